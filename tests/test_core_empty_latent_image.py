"""ComfyUI's EmptyLatentImage on a Wan model: SD's 4-channel image latent, which ComfyUI's
``fix_empty_latent_channels`` (``comfy/sample.py``) turns into the model's latent before
sampling: all zeros, so the channels are made the model's, the size is scaled by
``downscale_ratio_spacial`` over the model's pixels per latent, and an image latent (4 axes)
gets one frame axis. Expected shapes are worked out by hand from those rules."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.ksampler_nodes import fix_empty_latent


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


def test_empty_latent_image_is_sds_image_latent(ctx):
    (out,) = node("EmptyLatentImage")(ctx, width=100, height=60, batch_size=2)
    assert out["samples"].shape == (2, 4, 7, 12) and out["samples"].eq(0).all()
    assert out["downscale_ratio_spacial"] == 8


@pytest.mark.parametrize("channels, ratio, want", [
    (16, 8, (2, 16, 1, 7, 12)),   # Wan 2.1 VAE: 8 px per latent, as the image latent
    (48, 8, (2, 48, 1, 4, 6)),    # Wan 2.2 5B: 16 px per latent -> half size, rounded
    (16, None, (2, 16, 1, 7, 12)),
])
def test_an_empty_image_latent_becomes_the_models(channels, ratio, want):
    model = SimpleNamespace(latent_channels=channels)
    got = fix_empty_latent(torch.zeros(2, 4, 7, 12), model, ratio)
    assert got.shape == want and got.eq(0).all()


def test_a_latent_with_content_keeps_its_channels():
    model = SimpleNamespace(latent_channels=16)
    image = torch.ones(1, 4, 3, 3)
    got = fix_empty_latent(image, model, 8)
    assert got.shape == (1, 4, 1, 3, 3) and got.eq(1).all()
    video = torch.ones(1, 16, 2, 3, 3)
    assert fix_empty_latent(video, model, 8) is video


def test_ksampler_samples_one_frame_from_an_empty_latent_image(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    dim = model.transformer.config.text_dim
    prompt = [[torch.randn(1, 512, dim, generator=torch.Generator().manual_seed(2)), {}]]
    (latent,) = node("EmptyLatentImage")(ctx, width=32, height=16, batch_size=1)
    (out,) = node("KSampler")(ctx, model=model, seed=3, steps=2, cfg=1.0, sampler_name="euler",
                              scheduler="simple", positive=prompt, negative=prompt, latent_image=latent, denoise=1.0)
    assert out["samples"].shape == (1, 16, 1, 2, 4) and out["samples"].abs().sum() > 0
    with pytest.raises(NodeInputError) as err:
        node("KSampler")(ctx, model=model, seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple",
                         positive=prompt, negative=prompt, latent_image={"samples": torch.ones(1, 4, 2, 4)},
                         denoise=1.0)
    assert err.value.input_name == "latent_image"
