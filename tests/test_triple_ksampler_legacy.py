"""The pack's first simple node (SimpleTripleKSamplerWan22Lightning, 2025-09-10) against
ModelSamplingSD3 plus KSamplerAdvanced runs written out as its ``sample`` made them."""

from __future__ import annotations

import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.packs.triple_ksampler.legacy import legacy_switch


def test_switch_and_base_steps_worked_by_hand():
    # simple, 8 steps, shift 5: sigma at step i = 5t / (1 + 4t), t = 1 - i/8: i=3 0.893, i=4 0.833
    assert legacy_switch(True, 0.875, 8, "simple", 5.0) == 4
    assert legacy_switch(True, 0.0, 8, "simple", 5.0) == 7
    assert legacy_switch(False, 0.875, 7, "simple", 5.0) == 4   # ceil(7 / 2)
    assert legacy_switch(False, 0.875, 2, "simple", 5.0) == 1


@torch.no_grad()
def test_the_node_is_its_three_ksampler_advanced_runs(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (a,) = node("UNETLoader")(ctx, unet_name="wan2.2_t2v_low_noise_14B_tiny_fp8_scaled.safetensors",
                              weight_dtype="default")
    (b,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    (pos,) = node("CLIPTextEncode")(ctx, text="a cat", clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text="blur", clip=clip)
    latent = {"samples": torch.zeros(1, 16, 2, 2, 2)}
    # 10 lightning steps: base_steps ceil(20 / 10) = 2 of 20; switch ceil(10 / 2) = 5
    (out,) = node("SimpleTripleKSamplerWan22Lightning")(
        ctx, high_model=a, high_model_lx2v=b, low_model_lx2v=a, positive=pos, negative=neg, latent_image=latent,
        seed=9, shift=4.0, base_cfg=2.5, lightning_steps=10, sampler_name="euler", scheduler="simple")
    want = latent
    for model, noise, seed, steps, cfg, start, end, leftover in (
            (a, "enable", 9, 20, 2.5, 0, 2, "enable"), (b, "disable", 9, 10, 1.0, 1, 5, "enable"),
            (a, "disable", 10, 10, 1.0, 5, 10, "disable")):
        (patched,) = node("ModelSamplingSD3")(ctx, model=model, shift=4.0)
        (want,) = node("KSamplerAdvanced")(ctx, model=patched, add_noise=noise, noise_seed=seed, steps=steps, cfg=cfg,
                                           sampler_name="euler", scheduler="simple", positive=pos, negative=neg,
                                           latent_image=want, start_at_step=start, end_at_step=end,
                                           return_with_leftover_noise=leftover)
    torch.testing.assert_close(out["samples"], want["samples"])
