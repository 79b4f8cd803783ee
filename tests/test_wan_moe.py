"""ComfyUI-WanMoeKSampler and ComfyUI-WanMoEScheduler on two tiny Wan models.

References, independent of the executors: the switch step and the scheduler's shift worked
out from the flow-sigma formula ``sigma(t) = s·t / (1 + (s-1)·t)`` by hand; the pack's two
``comfy.sample.sample`` calls rebuilt from ComfyUI's core nodes (ModelSamplingSD3 then two
KSamplerAdvanced windows; the pack's ignored ``disable_noise`` means both add the seed's
noise, and its high-noise pass is forced to end on sigma 0); BasicScheduler on a model
shifted by the shift found."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def models(ctx):
    high = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")[0]
    low = node("UNETLoader")(ctx, unet_name="wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors",
                             weight_dtype="default")[0]
    return high, low


@pytest.fixture(scope="module")
def cond(ctx):
    clip, = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")
    return node("CLIPTextEncode")(ctx, text="a fox in the snow", clip=clip)[0]


def latent(ctx):
    return node("EmptyHunyuanLatentVideo")(ctx, width=32, height=32, length=5, batch_size=1)[0]


def flow_sigma(t: float, shift: float) -> float:
    return shift * t / (1 + (shift - 1) * t)


def hand_switch(steps: int, shift: float, boundary: float) -> int:
    """The "simple" schedule's sigma i is sigma(1 - i/steps); the switch is one before the
    first i >= 1 below the boundary."""
    for i in range(1, steps + 1):
        t = 1 - i / steps
        if (flow_sigma(t, shift) if t > 0 else 0.0) < boundary:
            return i - 1
    return steps


def two_passes(ctx, high, low, cond, *, seed, steps, cfgs, shift, switch, add_noise="enable"):
    """The pack's two comfy.sample.sample calls, as core KSamplerAdvanced windows."""
    high = node("ModelSamplingSD3")(ctx, model=high, shift=shift)[0]
    low = node("ModelSamplingSD3")(ctx, model=low, shift=shift)[0]
    common = dict(add_noise=add_noise, noise_seed=seed, steps=steps, sampler_name="euler", scheduler="simple",
                  positive=cond, negative=cond)
    out = latent(ctx)
    if switch > 0:
        out = node("KSamplerAdvanced")(ctx, model=high, cfg=cfgs[0], latent_image=out, start_at_step=0,
                                       end_at_step=switch, return_with_leftover_noise="disable", **common)[0]
    return node("KSamplerAdvanced")(ctx, model=low, cfg=cfgs[1], latent_image=out, start_at_step=switch,
                                    end_at_step=10000, return_with_leftover_noise="disable", **common)[0]


def moe(ctx, high, low, cond, **inputs):
    return node("WanMoeKSampler")(ctx, model_high_noise=high, model_low_noise=low, positive=cond, negative=cond,
                                  latent_image=latent(ctx), sampler_name="euler", scheduler="simple", **inputs)[0]


@pytest.mark.parametrize("steps,shift,boundary", [(6, 5.0, 0.875), (8, 8.0, 0.9), (4, 1.0, 0.6)])
def test_switch_step_matches_the_hand_rule(steps, shift, boundary):
    from wfrun.packs.wan_moe_ksampler.nodes import switch_step
    from wfrun.sampling import ksampler as ks

    ms = ks.FlowSampling(shift=shift)
    assert switch_step(ks.scheduler_sigmas(ms, "simple", steps), ms, boundary) == hand_switch(steps, shift, boundary)


def test_moe_sampler_is_the_packs_two_passes(ctx, models, cond):
    high, low = models
    steps, shift, boundary = 6, 5.0, 0.875
    switch = hand_switch(steps, shift, boundary)
    assert 0 < switch < steps  # both models run
    got = moe(ctx, high, low, cond, boundary=boundary, seed=11, steps=steps, cfg_high_noise=3.0, cfg_low_noise=2.0,
              sigma_shift=shift, denoise=1.0)
    want = two_passes(ctx, high, low, cond, seed=11, steps=steps, cfgs=(3.0, 2.0), shift=shift, switch=switch)
    assert torch.equal(got["samples"], want["samples"])
    # the low-noise model matters: swapping the experts changes the result
    swapped = moe(ctx, low, high, cond, boundary=boundary, seed=11, steps=steps, cfg_high_noise=3.0,
                  cfg_low_noise=2.0, sigma_shift=shift, denoise=1.0)
    assert not torch.equal(swapped["samples"], got["samples"])


@pytest.mark.parametrize("boundary,which", [(0.0, "high"), (1.0, "low")])
def test_a_boundary_at_either_end_runs_one_model(ctx, models, cond, boundary, which):
    high, low = models
    got = moe(ctx, high, low, cond, boundary=boundary, seed=5, steps=3, cfg_high_noise=2.5, cfg_low_noise=2.5,
              sigma_shift=6.0, denoise=1.0)
    model = node("ModelSamplingSD3")(ctx, model=high if which == "high" else low, shift=6.0)[0]
    want = node("KSampler")(ctx, model=model, seed=5, steps=3, cfg=2.5, sampler_name="euler", scheduler="simple",
                            positive=cond, negative=cond, latent_image=latent(ctx), denoise=1.0)[0]
    assert torch.equal(got["samples"], want["samples"])


def test_advanced_without_noise(ctx, models, cond):
    high, low = models
    start = latent(ctx)
    start["samples"] = torch.randn(start["samples"].shape, generator=torch.Generator().manual_seed(0))
    got = node("WanMoeKSamplerAdvanced")(ctx, model_high_noise=high, model_low_noise=low, boundary=0.875,
                                         add_noise="disable", noise_seed=1, steps=6, cfg_high_noise=2.0,
                                         cfg_low_noise=2.0, sampler_name="euler", scheduler="simple", sigma_shift=5.0,
                                         positive=cond, negative=cond, latent_image=start, start_at_step=0,
                                         end_at_step=10000, return_with_leftover_noise="disable")[0]
    switch = hand_switch(6, 5.0, 0.875)
    h = node("ModelSamplingSD3")(ctx, model=high, shift=5.0)[0]
    lo = node("ModelSamplingSD3")(ctx, model=low, shift=5.0)[0]
    common = dict(add_noise="disable", noise_seed=1, steps=6, cfg=2.0, sampler_name="euler", scheduler="simple",
                  positive=cond, negative=cond, return_with_leftover_noise="disable")
    mid = node("KSamplerAdvanced")(ctx, model=h, latent_image=start, start_at_step=0, end_at_step=switch, **common)[0]
    want = node("KSamplerAdvanced")(ctx, model=lo, latent_image=mid, start_at_step=switch, end_at_step=10000,
                                    **common)[0]
    assert torch.equal(got["samples"], want["samples"])
    with pytest.raises(NodeInputError) as err:
        node("WanMoeKSamplerAdvanced")(ctx, model_high_noise=high, model_low_noise=low, boundary=0.875,
                                       add_noise="enable", noise_seed=1, steps=6, cfg_high_noise=2.0,
                                       cfg_low_noise=2.0, sampler_name="euler", scheduler="simple", sigma_shift=5.0,
                                       positive=cond, negative=cond, latent_image=start, start_at_step=6,
                                       end_at_step=10000, return_with_leftover_noise="disable")
    assert err.value.input_name == "start_at_step"


def test_first_signature_uses_the_models_shift_and_the_first_rule(ctx, models, cond):
    """2025-08-09: one cfg, no shift input, switch = first index (from 0) below the boundary."""
    high, low = models
    high8 = node("ModelSamplingSD3")(ctx, model=high, shift=5.0)[0]
    low8 = node("ModelSamplingSD3")(ctx, model=low, shift=5.0)[0]
    got = node("WanMoeKSampler")(ctx, model_high_noise=high8, model_low_noise=low8, boundary=0.875, seed=2, steps=6,
                                 cfg=2.0, sampler_name="euler", scheduler="simple", positive=cond, negative=cond,
                                 latent_image=latent(ctx), denoise=1.0)[0]
    switch = hand_switch(6, 5.0, 0.875) + 1  # the first rule counts from sigma 0
    want = two_passes(ctx, high, low, cond, seed=2, steps=6, cfgs=(2.0, 2.0), shift=5.0, switch=switch)
    assert torch.equal(got["samples"], want["samples"])


def test_split_sigmas_at_t():
    sigmas = torch.tensor([1.0, 0.95, 0.9, 0.8, 0.5, 0.0])
    high, low, at = node("SplitSigmasAtT")(ExecContext(), boundary=0.875, sigmas=sigmas)
    assert at == 2 and high.tolist() == sigmas[:3].tolist() and low.tolist() == sigmas[2:].tolist()
    high, low, at = node("SplitSigmasAtT")(ExecContext(), boundary=0.0, sigmas=sigmas)
    assert at == 6 and torch.equal(high, sigmas) and low.numel() == 0


def brute_force_shift(steps_high: int, steps_low: int, boundary: float) -> float:
    """The first shift on a 0.01 grid whose "simple" sigma number ``steps_high`` (the table
    entry at t = 1 - steps_high/steps, over 1000 training steps) reaches the boundary."""
    total = steps_high + steps_low
    t = (1000 - int(steps_high * 1000 / total)) / 1000
    k = 0
    while flow_sigma(t, k / 100) < boundary - 1e-6:
        k += 1
    return k / 100


@pytest.mark.parametrize("high,low,boundary", [(4, 4, 0.9), (2, 6, 0.875), (3, 5, 0.93)])
def test_scheduler_finds_the_shift(ctx, models, high, low, boundary):
    model = models[0]
    shift, steps, h, lo, sigmas, sig_high, sig_low = node("WanMoEScheduler")(
        ctx, model=model, scheduler="simple", steps_high=high, steps_low=low, boundary=boundary)
    assert shift == pytest.approx(brute_force_shift(high, low, boundary), abs=0.011)
    assert (steps, h, lo) == (high + low, high, low)
    assert bool(sigmas[high] >= boundary)  # compared in float32, as the pack compares a tensor
    assert float(sig_high[-1]) == float(sig_low[0]) == float(sigmas[high])
    assert len(sig_high) == high + 1 and len(sig_low) == low + 1
    reference, = node("BasicScheduler")(ctx, model=node("ModelSamplingSD3")(ctx, model=model, shift=shift)[0],
                                        scheduler="simple", steps=high + low)
    torch.testing.assert_close(sigmas, reference, atol=2e-4, rtol=0)  # the shift was rounded to 2 decimals


def test_scheduler_denoise_and_refusals(ctx, models):
    model = models[0]
    shift, _, _, _, sigmas, _, _ = node("WanMoEScheduler")(ctx, model=model, scheduler="simple", steps_high=2,
                                                           steps_low=2, boundary=0.5, denoise=0.5)
    full, = node("BasicScheduler")(ctx, model=node("ModelSamplingSD3")(ctx, model=model, shift=shift)[0],
                                   scheduler="simple", steps=4, denoise=0.5)
    torch.testing.assert_close(sigmas, full, atol=2e-4, rtol=0)
    for inputs, name in (({"scheduler": "karras"}, "scheduler"), ({"denoise": 0.1, "boundary": 0.9}, "boundary"),
                         ({"denoise": 0.0}, "denoise")):
        with pytest.raises(NodeInputError) as err:
            node("WanMoEScheduler")(ctx, **{"model": model, "scheduler": "simple", "steps_high": 1,
                                           "steps_low": 1, **inputs})
        assert err.value.input_name == name
