"""WanVideoSampler's step range (the pack from 2025-07-28): two samplers splitting one
schedule, ``denoise_strength`` as a start step, ``add_noise_to_samples``, the generator
handed over, ``denoised_samples``, and samplers saved before the range keep the older rules."""

from __future__ import annotations

import pytest
import torch

from test_sampling_loop import load, request, t2v_embeds, text, tiny, tiny_files  # noqa: F401 (fixture)
from wfrun.engine.progress import QuietProgress
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling.loop import SamplingError, prepare, sample
from wfrun.sampling.schedulers import SchedulerError, build_schedule, step_slice
from node_helpers import node


@pytest.mark.parametrize("name", ["unipc", "dpm++_sde", "euler", "flowmatch_causvid", "res_multistep"])
def test_a_range_keeps_the_packs_slice_of_the_whole_schedule(name):
    whole = build_schedule(name, 4 if name == "flowmatch_causvid" else 10, 5.0)
    steps = len(whole.timesteps)
    for start, end in ((0, 2), (2, -1), (1, 3), (0, -1)):
        part = build_schedule(name, 4 if name == "flowmatch_causvid" else 10, 5.0, step_range=(start, end))
        stop = steps if end == -1 else end
        torch.testing.assert_close(part.timesteps, whole.timesteps[start:stop])
        assert part.steps == stop - start
        sigmas = part.stepper.sigmas
        full = whole.stepper.sigmas
        one_more = 1 if len(full) > len(whole.stepper.timesteps) else 0
        torch.testing.assert_close(sigmas, full[start:stop + one_more])


def test_step_slice_is_the_packs_rule_and_refuses_an_empty_range():
    assert step_slice(10, 0, -1) == (0, 9) and step_slice(10, 4, -1) == (4, 9) and step_slice(10, 0, 4) == (0, 3)
    with pytest.raises(SchedulerError) as err:
        step_slice(10, 5, 5)
    assert err.value.input_name == "start_step"


@torch.no_grad()
def test_two_euler_samplers_split_at_a_step_equal_one_whole_run():
    # Euler is a one-step method: a second sampler starting from the first one's latents at
    # step k continues exactly where the whole run would be (the pack's Wan 2.2 hand-over).
    model = tiny()
    whole = sample(request(model, steps=6, scheduler="euler", step_range=(0, -1, False))[0])
    first = sample(request(model, steps=6, scheduler="euler", step_range=(0, 3, False))[0])
    second = sample(request(model, steps=6, scheduler="euler", seed=99, samples=first,
                            step_range=(3, -1, False))[0])
    torch.testing.assert_close(second["samples"], whole["samples"], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(first["samples"], whole["samples"])


@torch.no_grad()
def test_the_first_samplers_generator_state_feeds_the_second_samplers_sde_noise():
    model = tiny()
    first = sample(request(model, steps=4, scheduler="dpm++_sde", step_range=(0, 2, False))[0])
    kept = sample(request(model, steps=4, scheduler="dpm++_sde", seed=5, samples=first, step_range=(2, -1, False))[0])
    other = dict(first, generator_state=torch.Generator().manual_seed(123).get_state())
    moved = sample(request(model, steps=4, scheduler="dpm++_sde", seed=5, samples=other, step_range=(2, -1, False))[0])
    # the second sampler's own seed does not matter: the state handed over does
    again = sample(request(model, steps=4, scheduler="dpm++_sde", seed=6, samples=first, step_range=(2, -1, False))[0])
    torch.testing.assert_close(kept["samples"], again["samples"], rtol=0, atol=0)
    assert not torch.allclose(kept["samples"], moved["samples"])


@torch.no_grad()
def test_denoise_below_one_is_a_start_step_with_noise_added():
    model = tiny()
    init = {"samples": torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(7))}
    req, _ = request(model, steps=10, cfg=1.0, denoise_strength=0.6, samples=init, scheduler="euler",
                     step_range=(0, -1, False))
    p = prepare(req)
    start = 10 - int(10 * 0.6) - 1
    whole = build_schedule("euler", 10, 5.0)
    torch.testing.assert_close(p.timesteps, whole.timesteps[start:])
    noise = torch.randn(16, 3, 4, 4, generator=torch.Generator("cpu").manual_seed(1))
    t0 = whole.timesteps[start] / 1000
    torch.testing.assert_close(p.latent, noise * t0 + (1 - t0) * init["samples"][0])
    with pytest.raises(SamplingError) as err:
        prepare(request(model, steps=10, denoise_strength=0.6, samples=init, step_range=(2, -1, False))[0])
    assert err.value.input_name == "start_step"


@torch.no_grad()
def test_input_latents_start_the_second_sampler_as_they_are_unless_noise_is_added():
    model = tiny()
    init = {"samples": torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(7))}
    plain = prepare(request(model, steps=6, samples=init, step_range=(3, -1, False))[0])
    torch.testing.assert_close(plain.latent, init["samples"][0])
    noisy = prepare(request(model, steps=6, samples=init, step_range=(3, -1, True))[0])
    noise = torch.randn(16, 3, 4, 4, generator=torch.Generator("cpu").manual_seed(1))
    t0 = plain.timesteps[0].float() / 1000
    torch.testing.assert_close(noisy.latent, noise * t0 + (1 - t0) * init["samples"][0])


@torch.no_grad()
def test_denoised_samples_of_an_euler_run_are_its_result():
    # Euler's last step goes to sigma 0: x - v*sigma, the same clean-latent estimate the
    # pack returns as denoised_samples (x - v*t/1000, with t = 1000*sigma).
    out = sample(request(tiny(), steps=3, scheduler="euler", step_range=(0, -1, False))[0])
    torch.testing.assert_close(out["denoised"], out["samples"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("saved, expected", [("2025-06-01", 5), ("2025-08-24", 3), (None, 3)])
def test_the_executor_follows_the_rules_of_the_version_saved(tiny_files, saved, expected):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    progress = QuietProgress()
    init = {"samples": torch.randn(1, 16, 3, 4, 4)}
    latent, denoised = node("WanVideoSampler")(ExecContext(progress=progress, saved_date=saved), model=model,
                                               image_embeds=t2v_embeds(), text_embeds=text(dim=32), steps=4, cfg=1.0,
                                               shift=5.0, seed=0, scheduler="euler", denoise_strength=0.5,
                                               samples=init)
    # before 2025-07-28: int(4/0.5) = 8 scheduled, the last int(8*0.5)+1 = 5 run;
    # after: 4 scheduled, from start step 4 - int(4*0.5) - 1 = 1: 3 run
    assert progress.step_counts == [expected]
    assert denoised["samples"].shape == latent["samples"].shape


def test_the_executor_names_a_bad_range(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(ExecContext(), model=model, image_embeds=t2v_embeds(), text_embeds=text(dim=32),
                                steps=4, start_step=3, end_step=2)
    assert err.value.input_name == "start_step" and "less than end_step" in str(err.value)


def test_a_sigma_threshold_starts_at_the_first_step_at_or_below_it():
    whole = build_schedule("dpm++_sde", 6, 5.0)
    sigmas = whole.stepper.sigmas
    first = int((sigmas <= 0.875).nonzero()[0])
    part = build_schedule("dpm++_sde", 6, 5.0, step_range=(0.875, -1))
    torch.testing.assert_close(part.timesteps, whole.timesteps[first:])
    last = int((sigmas >= 0.875).nonzero()[-1])
    head = build_schedule("dpm++_sde", 6, 5.0, step_range=(0, 0.875))
    torch.testing.assert_close(head.timesteps, whole.timesteps[:last + 1])
    assert 0 < first <= last + 1  # the two halves meet at the threshold


@torch.no_grad()
def test_sampler_v2_with_its_scheduler_equals_the_sampler_with_the_same_settings(tiny_files):
    model = load(tiny_files, "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "t2v")
    ctx = ExecContext()
    (choice,) = node("WanVideoSchedulerv2")(ctx, scheduler="euler", steps=4, shift=3.0, start_step=0, end_step=3)
    (extra,) = node("WanVideoSamplerExtraArgs")(ctx, riflex_freq_index=0, rope_function="default")
    v2, _ = node("WanVideoSamplerv2")(ctx, model=model, image_embeds=t2v_embeds(), cfg=4.0, seed=5,
                                      force_offload=False, scheduler=choice, text_embeds=text(dim=32),
                                      extra_args=extra)
    v1, _ = node("WanVideoSampler")(ctx, model=model, image_embeds=t2v_embeds(), steps=4, cfg=4.0, shift=3.0, seed=5,
                                    scheduler="euler", text_embeds=text(dim=32), force_offload=False, start_step=0,
                                    end_step=3, riflex_freq_index=0, rope_function="default")
    torch.testing.assert_close(v2["samples"], v1["samples"], rtol=0, atol=0)
    # v1's scheduler node hands its settings on, and its choice feeds WanVideoSampler's scheduler input
    outs = node("WanVideoScheduler")(ctx, scheduler="euler", steps=4, shift=3.0, start_step=0, end_step=3)
    assert outs[1:3] == (4, 3.0) and outs[4:] == (0, 3) and outs[3] == choice
    via, _ = node("WanVideoSampler")(ctx, model=model, image_embeds=t2v_embeds(), steps=30, cfg=4.0, shift=8.0,
                                     seed=5, scheduler=outs[3], text_embeds=text(dim=32), force_offload=False,
                                     riflex_freq_index=0, rope_function="default")
    torch.testing.assert_close(via["samples"], v1["samples"], rtol=0, atol=0)
    assert node("WanVideoSigmaToStep")(ctx, sigma=0.875) == (0.875,)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSamplerv2")(ctx, model=model, image_embeds=t2v_embeds(), cfg=4.0, seed=5, force_offload=False,
                                  scheduler="euler")
    assert err.value.input_name == "scheduler"
