"""ComfyUI-TripleKSampler's KSampler nodes: the switch step and refined shift worked by hand
on ComfyUI's flow schedule, and the nodes equal to ModelSamplingSD3 plus three
KSamplerAdvanced runs written out as the pack's ``sample`` makes them (tiny Wan models)."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.triple_ksampler.ksampler import comfy_sigmas, ksampler_switch_step, plan


def test_switch_steps_on_the_simple_schedule_worked_by_hand():
    # simple, 8 steps, shift 5: step i sits at t = 1 - i/8, sigma = 5t / (1 + 4t):
    # i=2: 0.9375, i=3: 0.8929, i=4: 0.8333
    at = comfy_sigmas("simple")
    assert ksampler_switch_step("T2V boundary", -1, 0.5, 8, at, 5.0) == 4      # 0.833 < 0.875
    assert ksampler_switch_step("I2V boundary", -1, 0.5, 8, at, 5.0) == 3      # 0.893 < 0.900
    assert ksampler_switch_step("Manual boundary", -1, 0.94, 8, at, 5.0) == 2  # 0.9375 < 0.94
    assert ksampler_switch_step("Manual boundary", -1, 0.0, 8, at, 5.0) == 7   # never: the last step
    assert ksampler_switch_step("Manual boundary", -1, 1.0, 8, at, 5.0) == 1   # step 0 is never the switch
    assert ksampler_switch_step("Manual switch step", -1, 0.5, 7, at, 5.0) == 3   # 7 // 2
    assert ksampler_switch_step("50% of steps", -1, 0.5, 7, at, 5.0) == 4         # ceil(7 / 2)
    assert ksampler_switch_step("T2V boundary (refined)", -1, 0.5, 7, at, 5.0) == 4  # refined: the 50% step


def test_refined_shift_meets_the_boundary_at_the_half_step():
    # 8 steps: switch at step 4 (t = 0.5) where sigma = s / (s + 1); 0.875 needs s = 7
    p = plan(sigma_shift=5.0, base_quality_threshold=20, base_steps=-1, lightning_start=1, lightning_steps=8,
             lightning_scheduler="simple", switch_strategy="T2V boundary (refined)", switch_step=-1,
             switch_boundary=0.875)
    assert (p["base_steps"], p["total_base_steps"], p["switch"]) == (3, 24, 4)
    assert p["shift"] == pytest.approx(7.0, abs=1e-6)
    p = plan(sigma_shift=5.0, base_quality_threshold=20, base_steps=2, lightning_start=2, lightning_steps=8,
             lightning_scheduler="simple", switch_strategy="I2V boundary", switch_step=-1, switch_boundary=0.875)
    assert (p["base_steps"], p["total_base_steps"], p["switch"], p["shift"]) == (2, 8, 3, 5.0)


W = H = 16


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def parts(ctx):
    (a,) = node("UNETLoader")(ctx, unet_name="wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors",
                              weight_dtype="default")
    (b,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    (pos,) = node("CLIPTextEncode")(ctx, text="a cat", clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text="blur", clip=clip)
    latent = {"samples": torch.zeros(1, 16, 2, H // 8, W // 8)}
    return dict(base_high=a, lightning_high=b, lightning_low=a, positive=pos, negative=neg, latent_image=latent)


def by_hand(ctx, parts, stages, shift):
    """``stages``: (model input, add_noise, seed, steps, cfg, start, end, leftover) per run."""
    latent = parts["latent_image"]
    for name, noise, seed, steps, cfg, start, end, leftover in stages:
        (model,) = node("ModelSamplingSD3")(ctx, model=parts[name], shift=shift)
        (latent,) = node("KSamplerAdvanced")(ctx, model=model, add_noise=noise, noise_seed=seed, steps=steps, cfg=cfg,
                                             sampler_name="euler", scheduler="simple", positive=parts["positive"],
                                             negative=parts["negative"], latent_image=latent, start_at_step=start,
                                             end_at_step=end, return_with_leftover_noise=leftover)
    return latent["samples"]


@torch.no_grad()
def test_advanced_is_three_ksampler_advanced_runs(ctx, parts):
    # base_steps 1, lightning_start 1, 4 steps: total_base_steps floor(1 * 4 / 1) = 4;
    # T2V boundary at shift 3: t = 0.75 -> 2.25/2.5 = 0.9, t = 0.5 -> 0.75 < 0.875: switch 2
    (out,) = node("TripleKSamplerWan22LightningAdvanced")(
        ctx, **parts, seed=5, sigma_shift=3.0, base_steps=1, base_cfg=2.0, base_sampler="euler",
        base_scheduler="simple", lightning_start=1, lightning_steps=4, lightning_cfg=1.5, lightning_sampler="euler",
        lightning_scheduler="simple", switch_strategy="T2V boundary")
    want = by_hand(ctx, parts, [("base_high", "enable", 5, 4, 2.0, 0, 1, "enable"),
                                ("lightning_high", "disable", 5, 4, 1.5, 1, 2, "enable"),
                                ("lightning_low", "disable", 6, 4, 1.5, 2, 4, "disable")], 3.0)
    torch.testing.assert_close(out["samples"], want)
    other = by_hand(ctx, parts, [("lightning_low", "enable", 5, 4, 1.5, 0, 4, "disable")], 3.0)
    assert not torch.allclose(out["samples"], other)


@torch.no_grad()
def test_simple_lightning_only_skips_the_base_stage(ctx, parts):
    # lightning_start 0: stage 1 skipped, stage 2 adds the noise; 50% of 4 steps: switch 2; cfg 1
    (out,) = node("TripleKSamplerWan22Lightning")(
        ctx, **parts, seed=3, sigma_shift=5.0, base_cfg=3.5, lightning_start=0, lightning_steps=4,
        sampler_name="euler", scheduler="simple", switch_strategy="50% of steps")
    want = by_hand(ctx, parts, [("lightning_high", "enable", 3, 4, 1.0, 0, 2, "enable"),
                                ("lightning_low", "disable", 4, 4, 1.0, 2, 4, "disable")], 5.0)
    torch.testing.assert_close(out["samples"], want)


def test_bad_settings_name_their_input(ctx, parts):
    call = node("TripleKSamplerWan22LightningAdvanced")
    common = dict(parts, base_sampler="euler", base_scheduler="simple", lightning_sampler="euler",
                  lightning_scheduler="simple")
    with pytest.raises(NodeInputError) as err:
        call(ctx, **common, lightning_start=3, lightning_steps=4, switch_strategy="Manual switch step",
             switch_step=2)
    assert err.value.input_name == "switch_step"
    with pytest.raises(NodeInputError) as err:
        call(ctx, **common, dry_run=True)
    assert err.value.input_name == "dry_run"
    with pytest.raises(NodeInputError) as err:
        call(ctx, **common, lightning_start=0, base_steps=3)
    assert err.value.input_name == "base_steps"
    assert node("SwitchStrategyAdvanced")(ctx, switch_strategy="Manual boundary (refined)") == (
        "Manual boundary (refined)",)


def test_early_layouts_are_refused_by_name(tiny_models, parts):
    common = dict(parts, base_sampler="euler", base_scheduler="simple", lightning_sampler="euler",
                  lightning_scheduler="simple")
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    with pytest.raises(NodeInputError) as err:  # the one sampler of the layouts before 2025-10-15
        node("TripleKSamplerWan22LightningAdvanced")(ctx, **common, sampler_name="euler")
    assert err.value.input_name == "sampler_name"
    ctx.saved_date = "2025-09-19"  # base_quality_threshold but one sampler_name: the names alone cannot tell
    with pytest.raises(NodeInputError) as err:
        node("TripleKSamplerWan22LightningAdvanced")(ctx, **common)
    assert err.value.input_name == "base_sampler"
    with pytest.raises(NodeInputError) as err:
        node("TripleKSamplerWan22Lightning")(ctx, **parts, midpoint_strategy="50% midpoint", sampler_name="euler",
                                             scheduler="simple")
    assert err.value.input_name == "midpoint_strategy"
