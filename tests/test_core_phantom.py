"""ComfyUI's WanPhantomSubjectToVideo: the subjects' latents (one frame per image, resized
bilinear with a centre crop) on positive and ``negative_text``, latent-mean frames on
``negative_img_text``; and a KSampler run with them, the subjects following the video."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.media.image import upscale_image
from wfrun.models.families import WAN21
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext

W = H = 32


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@torch.no_grad()
def test_subjects_as_the_core_node_makes_them(ctx):
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    (pos,) = node("CLIPTextEncode")(ctx, text="a cat", clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text="blur", clip=clip)
    images = torch.rand(3, 40, 48, 3, generator=torch.Generator().manual_seed(1))
    p, n_text, n_img, latent = node("WanPhantomSubjectToVideo")(ctx, positive=pos, negative=neg, vae=vae, width=W,
                                                                height=H, length=5, images=images)
    fitted = upscale_image(images, W, H, "bilinear", "center")
    want = torch.cat([node("VAEEncode")(ctx, pixels=fitted[i:i + 1], vae=vae)[0]["samples"] for i in range(3)], dim=2)
    torch.testing.assert_close(p[0][1]["time_dim_concat"], want)
    torch.testing.assert_close(n_text[0][1]["time_dim_concat"], want)
    mean = torch.tensor(WAN21.mean).view(1, 16, 1, 1, 1).expand_as(want)
    torch.testing.assert_close(n_img[0][1]["time_dim_concat"], mean)
    assert torch.equal(n_img[0][0], neg[0][0]) and latent["samples"].shape == (1, 16, 2, H // 8, W // 8)
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_t2v_1.3B_tiny_bf16.safetensors", weight_dtype="default")
    (out,) = node("KSampler")(ctx, model=model, seed=1, steps=2, cfg=2.0, sampler_name="euler", scheduler="simple",
                              positive=p, negative=n_text, latent_image=latent, denoise=1.0)
    assert out["samples"].shape == latent["samples"].shape and torch.isfinite(out["samples"]).all()
    (plain,) = node("KSampler")(ctx, model=model, seed=1, steps=2, cfg=2.0, sampler_name="euler", scheduler="simple",
                                positive=pos, negative=neg, latent_image=latent, denoise=1.0)
    assert not torch.allclose(out["samples"], plain["samples"])  # the subjects reach the model
