"""KJNodes' native TeaCache and Enhance-A-Video on the core KSampler: the blocks run only on
the steps the TeaCache rule computes (counted with a hook on the first block), the step
window follows the percentages, and both patches leave the input MODEL alone."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.packs.comfy_core_models.model_input import step_index

STEPS = 6


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def setup(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    dim = model.transformer.config.text_dim
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 512, dim, generator=g), {}]]
    negative = [[torch.randn(1, 512, dim, generator=g), {}]]
    latent = {"samples": torch.zeros(1, 16, 3, 4, 4)}
    return model, positive, negative, latent


def _sample(ctx, model, positive, negative, latent):
    calls = []
    handle = model.transformer.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        (out,) = node("KSampler")(ctx, model=model, seed=3, steps=STEPS, cfg=4.0, sampler_name="euler",
                                   scheduler="simple", positive=positive, negative=negative, latent_image=latent,
                                   denoise=1.0)
    finally:
        handle.remove()
    return out["samples"], len(calls)


def test_teacache_computes_only_where_its_rule_says(ctx, setup):
    model, positive, negative, latent = setup
    plain, plain_calls = _sample(ctx, model, positive, negative, latent)
    assert plain_calls == 2 * STEPS  # cond and uncond every step
    # a threshold no change reaches: inside the window only the first step computes
    (cached,) = node("WanVideoTeaCacheKJ")(ctx, model=model, rel_l1_thresh=10.0, start_percent=0.5, end_percent=1.0,
                                           cache_device="offload_device", coefficients="disabled")
    assert model.teacache is None and cached.transformer is model.transformer
    out, calls = _sample(ctx, cached, positive, negative, latent)
    # steps 0-2 (i / 6 < 0.5) compute; step 3 opens the window and computes; 4 and 5 reuse
    assert calls == 2 * 4
    assert out.shape == plain.shape and not torch.allclose(out, plain)
    (off,) = node("WanVideoTeaCacheKJ")(ctx, model=model, rel_l1_thresh=0.0, start_percent=0.0, end_percent=1.0,
                                        cache_device="offload_device", coefficients="14B")
    assert off is model


def test_enhance_a_video_scales_self_attention_only_when_weighted(ctx, setup):
    model, positive, negative, latent = setup
    (same,) = node("WanVideoEnhanceAVideoKJ")(ctx, model=model, latent=latent, weight=0.0)
    assert same is model
    (enhanced,) = node("WanVideoEnhanceAVideoKJ")(ctx, model=model, latent=latent, weight=4.0)
    assert enhanced.feta == (4.0, 3) and model.feta is None
    plain, _ = _sample(ctx, model, positive, negative, latent)
    out, _ = _sample(ctx, enhanced, positive, negative, latent)
    assert torch.isfinite(out).all() and not torch.allclose(out, plain)


def test_step_index_finds_the_step_of_a_sigma():
    sigmas = torch.tensor([1.0, 0.8, 0.5, 0.2, 0.0])
    assert [step_index(sigmas, torch.tensor([s])) for s in (1.0, 0.8, 0.5, 0.2)] == [0, 1, 2, 3]
    assert step_index(sigmas, torch.tensor([0.65])) == 1  # between two sigmas: the earlier step
