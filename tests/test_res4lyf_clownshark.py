"""RES4LYF's ClownOptions_DetailBoost_Beta (neutral settings pass, others are refused by
name) and ClownsharKSampler_Beta: its starting noise against the pack's rule written with
numpy, its eta-0 run against core KSampler's RES ODE sampling fed that noise (bit for bit),
its step-noise seed, steps_to_run, bongmath, options and refusals."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import spec_defaults
from res4lyf_nodes import clown as shared_clown, cond, ctx, empty_latent, model  # noqa: F401 (fixtures)
from wfrun.engine.executors import get_executor
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler import res4lyf as R
from wfrun.sampling.ksampler.samplers import SamplerContext


def boost(**changes):
    values = {**spec_defaults("ClownOptions_DetailBoost_Beta"), **changes}
    return get_executor("ClownOptions_DetailBoost_Beta")(ExecContext(), **values)


def test_neutral_weight_passes_and_keeps_earlier_options():
    (options,) = boost(weight=0.0, options={"earlier": 1})
    assert options["earlier"] == 1
    assert options["detail_boost"]["weight"] == 0.0


@pytest.mark.parametrize("weight", [20.0, -1.0, 1.0])
def test_non_neutral_weight_is_refused_naming_weight(weight):
    with pytest.raises(NodeInputError) as err:
        boost(weight=weight)
    assert err.value.input_name == "weight"


def test_weight_schedule_is_refused_naming_weights():
    with pytest.raises(NodeInputError) as err:
        boost(weight=0.0, weights=torch.ones(3))
    assert err.value.input_name == "weights"


# --- ClownsharKSampler_Beta ---------------------------------------------------------------


def clown(ctx, model, cond, latent, **changes):
    return shared_clown(ctx, model, cond, latent, **{"steps": 4, **changes})


def reference_noise(shape, seed):
    """The pack's rule, written with numpy: a float64 torch draw, z-scored over the whole
    tensor, then per [..., H, W] slice (sample std), then shifted to mean 0."""
    g = torch.Generator().manual_seed(seed)
    n = torch.randn(shape, dtype=torch.float64, generator=g).numpy()
    n = (n - n.mean()) / n.std(ddof=1)
    n = (n - n.mean(axis=(-2, -1), keepdims=True)) / n.std(axis=(-2, -1), ddof=1, keepdims=True)
    return torch.from_numpy(n - n.mean())


def test_start_noise_follows_the_packs_rule():
    from wfrun.packs.res4lyf.clownshark import start_noise
    latent = torch.zeros(1, 16, 2, 4, 6)
    noise = start_noise(latent, 5)
    assert noise.dtype == torch.float64
    torch.testing.assert_close(noise, reference_noise(latent.shape, 5), rtol=0, atol=1e-12)
    assert abs(float(noise.mean())) < 1e-12
    assert not torch.equal(noise, start_noise(latent, 6))


@pytest.mark.parametrize("sampler_name,core_name", [("multistep/res_2m", "res_2m_ode"), ("exponential/res_2s", "res_2s_ode")])
def test_eta_zero_equals_core_res_ode_sampling_bit_for_bit(ctx, model, cond, monkeypatch, sampler_name, core_name):
    out, denoised, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, sampler_name=sampler_name)
    # the core KSampler with the same sampler (ODE form) and schedule, fed the pack's noise for seed 11
    monkeypatch.setattr(ks, "prepare_noise", lambda latent, seed, **_: reference_noise(latent.shape, 11).float())
    core, = get_executor("KSampler")(ctx, model=model, seed=11, steps=4, cfg=3.0, sampler_name=core_name,
                                     scheduler="simple", positive=cond, negative=cond,
                                     latent_image=empty_latent(ctx), denoise=1.0)
    assert torch.equal(out["samples"], core["samples"])
    assert denoised["samples"].shape == out["samples"].shape


def test_batch_items_are_seeded_seed_plus_index(ctx, model, cond):
    both, _, _ = clown(ctx, model, cond, empty_latent(ctx, batch=2), eta=0.0)
    first, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, seed=11)
    second, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, seed=12)
    assert torch.equal(both["samples"][0:1], first["samples"])
    assert torch.equal(both["samples"][1:2], second["samples"])


def test_eta_adds_step_noise_seeded_seed_plus_one(ctx, model, cond, monkeypatch):
    seen = []
    real = R.StandardNoise.__init__

    def spy(self, like, seed):
        seen.append(seed)
        real(self, like, seed)

    monkeypatch.setattr(R.StandardNoise, "__init__", spy)
    noisy, _, options = clown(ctx, model, cond, empty_latent(ctx), eta=0.5)
    assert seen == [12, 12 + R.MAX_STEPS]
    plain, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0)
    assert not torch.equal(noisy["samples"], plain["samples"])
    assert options["eta"] == options["eta_substep"] == 0.5
    seen.clear()
    clown(ctx, model, cond, empty_latent(ctx), eta=0.5, seed=-1)
    assert seen == [-1, -1 + R.MAX_STEPS]


def test_steps_to_run_stops_early_without_the_final_denoise():
    ms = ks.FlowSampling(8.0)
    sigmas = ks.ksampler_sigmas(ms, "simple", 5, 1.0, sampler_name="res_2m")
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(3))

    def denoiser(x, s):
        return 0.3 * x + 0.1

    def run(sig, **kw):
        return R.sample_res(denoiser, x, sig, SamplerContext(ms=ms), variant=R.RES_SAMPLERS["res_2m"],
                            options=R.ResOptions(eta=0.0, eta_substep=0.0, **kw))

    part = run(sigmas, steps_to_run=2)
    torch.testing.assert_close(part, run(sigmas[:3]), rtol=0, atol=0)  # two steps, no sigma_min tail
    assert torch.equal(run(sigmas, steps_to_run=-1), run(sigmas, steps_to_run=50))


def test_bongmath_switch_changes_only_noisy_runs():
    ms = ks.FlowSampling(8.0)
    sigmas = ks.ksampler_sigmas(ms, "simple", 6, 1.0, sampler_name="res_2s")
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(4))

    def run(eta, bong):
        return R.sample_res(lambda x, s: 0.5 * x, x, sigmas, SamplerContext(ms=ms), variant=R.RES_SAMPLERS["res_2s"],
                            options=R.ResOptions(eta=eta, eta_substep=eta, noise_seed=7, bongmath=bong))

    torch.testing.assert_close(run(0.0, True), run(0.0, False), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(run(0.5, True), run(0.5, False))


def test_neutral_detail_boost_options_pass(ctx, model, cond):
    (options,) = boost(weight=0.0)
    with_boost, _, written = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, options=options)
    without, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0)
    assert torch.equal(with_boost["samples"], without["samples"])
    assert written["detail_boost"]["weight"] == 0.0 and written["noise_type_init"] == "gaussian"
    # the written options come back in neutral, with their eta as the setting
    again, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.7, options={**written, "eta": 0.0,
                                                                            "eta_substep": 0.0})
    assert torch.equal(again["samples"], without["samples"])


@pytest.mark.parametrize("changes,name", [
    ({"sampler_name": "linear/euler"}, "sampler_name"),
    ({"sampler_name": "exponential/res_5s"}, "sampler_name"),
    ({"sampler_mode": "reverse"}, "sampler_mode"),
    ({"guides": {"guide_mode": "flow"}}, "guides"),
    ({"sigmas": torch.tensor([0.5])}, "sigmas"),
    ({"options": {"noise_type_init": "brownian"}}, "options"),
    ({"options": {"implicit_steps": 2}}, "options"),
    ({"cfg": -2.0}, "cfg"),
    ({"denoise": 0.0}, "denoise"),
    ({"denoise": -0.5}, "denoise"),
])
def test_unsupported_inputs_are_refused_by_name(ctx, model, cond, changes, name):
    with pytest.raises(NodeInputError) as err:
        clown(ctx, model, cond, empty_latent(ctx), **changes)
    assert err.value.input_name == name


def test_standard_mode_ignores_a_chained_latents_state_and_missing_prompt_is_refused(ctx, model, cond):
    first, _, _ = clown(ctx, model, cond, empty_latent(ctx), steps_to_run=1)
    again, _, _ = clown(ctx, model, cond, first)
    plain, _, _ = clown(ctx, model, cond, {"samples": first["samples"]})
    assert torch.equal(again["samples"], plain["samples"])
    values = {**spec_defaults("ClownsharKSampler_Beta"), "steps": 2, "scheduler": "simple"}
    with pytest.raises(NodeInputError) as err:
        get_executor("ClownsharKSampler_Beta")(ctx, model=model, positive=cond, latent_image=empty_latent(ctx),
                                               **values)
    assert err.value.input_name == "negative"


def test_steps_to_run_and_denoise_at_the_node(ctx, model, cond):
    out, denoised, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, steps_to_run=2)
    full, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0)
    assert torch.isfinite(out["samples"]).all() and not torch.equal(out["samples"], full["samples"])
    assert not torch.equal(denoised["samples"], out["samples"])
    half, _, _ = clown(ctx, model, cond, full, eta=0.0, denoise=0.5)
    assert half["samples"].shape == full["samples"].shape and torch.isfinite(half["samples"]).all()


# --- ClownOptions_ExtraOptions_Beta and the settings it carries ---------------------------------

SET2_TEXT = "default_dtype=float32\nmultistep_fallback_sampler=ddim\nmultistep_extra_initial_steps=0\nskip_final_model_call"


def extra(text, options=None):
    return get_executor("ClownOptions_ExtraOptions_Beta")(ExecContext(), extra_options=text, options=options)[0]


def test_extra_options_text_is_appended_as_the_pack_does():
    first = extra("default_dtype=float32")
    assert first == {"extra_options": "default_dtype=float32"}
    assert extra("skip_final_model_call", first) == {"extra_options": "default_dtype=float32\nskip_final_model_call"}


def test_extra_options_are_read_into_sampler_settings():
    from wfrun.packs.res4lyf.extra_options import read_extra_options
    assert read_extra_options(SET2_TEXT) == {"dtype": torch.float32, "multistep_fallback": "ddim",
                                             "extra_initial_steps": 0, "skip_final_model_call": True}
    # the pack's regex: the first line naming a key wins; blank lines are nothing
    assert read_extra_options("\ndefault_dtype=float64\ndefault_dtype=float32\n") == {"dtype": torch.float64}


@pytest.mark.parametrize("text", ["implicit_steps=2", "default_dtype=float16", "work_device=cpu", "a b c",
                                  "multistep_fallback_sampler=res_5s"])
def test_unsupported_extra_options_are_refused_naming_the_line(text):
    with pytest.raises(NodeInputError) as err:
        extra(text)
    assert err.value.input_name == "extra_options" and text.split("=")[0] in str(err.value)


def _res_run(x, sigmas, name="res_2s", **kw):
    ms = ks.FlowSampling(8.0)
    calls = []

    def denoiser(x, s):
        calls.append(float(s[0]))
        return 0.3 * x + 0.1

    out = R.sample_res(denoiser, x, sigmas, SamplerContext(ms=ms), variant=R.RES_SAMPLERS[name],
                       options=R.ResOptions(eta=0.0, eta_substep=0.0, **kw))
    return out, calls, float(ms.sigma_min)


def test_skip_final_model_call_ends_on_the_last_steps_slope():
    x = torch.randn(1, 2, 2, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sigmas = torch.tensor([0.75, 0.4, 0.0], dtype=torch.float64)
    with_call, calls, sigma_min = _res_run(x, sigmas)
    skipped, skipped_calls, _ = _res_run(x, sigmas, skip_final_model_call=True)
    assert len(calls) == 5 and len(skipped_calls) == 4  # two 2-stage steps (+ the call at sigma_min)
    # by hand: the last step went from x_prev at 0.4 to x_last at sigma_min; its slope
    # eps = (x_prev - x_last) / (0.4 - sigma_min), and the result is x_last - sigma_min * eps
    x_prev = R.sample_res(lambda x, s: 0.3 * x + 0.1, x, sigmas[:2], SamplerContext(ms=ks.FlowSampling(8.0)),
                          variant=R.RES_SAMPLERS["res_2s"], options=R.ResOptions(eta=0.0, eta_substep=0.0))
    x_last = R.sample_res(lambda x, s: 0.3 * x + 0.1, x, torch.tensor([0.75, 0.4, sigma_min], dtype=torch.float64),
                          SamplerContext(ms=ks.FlowSampling(8.0)), variant=R.RES_SAMPLERS["res_2s"],
                          options=R.ResOptions(eta=0.0, eta_substep=0.0))
    eps = (x_prev - x_last) / (0.4 - sigma_min)
    torch.testing.assert_close(skipped, x_last - sigma_min * eps, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(with_call, 0.3 * x_last + 0.1, rtol=1e-12, atol=1e-12)


def test_default_dtype_float32_runs_and_draws_in_float32():
    x = torch.randn(1, 2, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    sigmas = torch.tensor([0.9, 0.5, 0.2], dtype=torch.float64)
    seen = []

    def denoiser(x, s):
        seen.append(x.dtype)
        return 0.3 * x

    R.sample_res(denoiser, x, sigmas, SamplerContext(ms=ks.FlowSampling(8.0)), variant=R.RES_SAMPLERS["res_2s"],
                 options=R.ResOptions(dtype=torch.float32, noise_seed=4))
    assert set(seen) == {torch.float32}
    noise = R.StandardNoise(x.to(torch.float32), 4)()
    g = torch.Generator().manual_seed(4)
    n = torch.randn(x.shape, dtype=torch.float32, generator=g)  # a float32 draw: another stream than float64
    n = (n - n.mean()) / n.std()
    torch.testing.assert_close(noise, (n - n.mean(dim=(-2, -1), keepdim=True)) / n.std(dim=(-2, -1), keepdim=True))


def test_multistep_initial_steps_and_ddim_fallback():
    sig = torch.tensor([1.0, 0.8, 0.6, 0.45, 0.3], dtype=torch.float64)
    variant = R.RES_SAMPLERS["res_2m"]
    # default: one extra single-step start (steps 0 and 1 are res_2s); with 0 extra, step 1 reuses step 0
    assert R.step_tableau(variant, 1, sig)[1] == 0
    assert R.step_tableau(variant, 1, sig, R.ResOptions(extra_initial_steps=0))[1] == 1
    assert R.step_tableau(variant, 2, sig)[1] == 1
    # h >= 1 (0.3 -> 0.1: h = log 3): the fallback replaces res_2s (sigma >= 0.1) by ddim's phi_1 weight
    far = torch.tensor([0.9, 0.6, 0.3, 0.1], dtype=torch.float64)
    h = math.log(3.0)
    tableau, recycled = R.step_tableau(variant, 2, far, R.ResOptions(multistep_fallback="ddim"))
    assert recycled == 0 and tableau.c == (0.0,)
    assert tableau.b[0] == pytest.approx((1 - math.exp(-h)) / h, rel=1e-14)
    assert len(R.step_tableau(variant, 2, far)[0].c) == 2


def test_custom_sigmas_equal_the_schedule_they_copy(ctx, model, cond):
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    sigmas = ks.ksampler_sigmas(ms, "simple", 4, 1.0, sampler_name="res_2s")
    by_name, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0)
    given, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, sigmas=sigmas, steps=30, scheduler="beta")
    assert torch.equal(by_name["samples"], given["samples"])
    halved, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, sigmas=sigmas, denoise=0.5)
    scaled, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.0, sigmas=sigmas * 0.5)
    assert torch.equal(halved["samples"], scaled["samples"])


def test_set2_extra_options_run_at_the_node(ctx, model, cond):
    sigmas = torch.tensor([0.75, 0.4, 0.0])
    out, _, written = clown(ctx, model, cond, empty_latent(ctx), eta=0.85, sampler_name="exponential/res_2s",
                            sigmas=sigmas, options=extra(SET2_TEXT))
    plain, _, _ = clown(ctx, model, cond, empty_latent(ctx), eta=0.85, sampler_name="exponential/res_2s",
                        sigmas=sigmas)
    assert torch.isfinite(out["samples"]).all() and not torch.equal(out["samples"], plain["samples"])
    assert written["extra_options"] == SET2_TEXT
