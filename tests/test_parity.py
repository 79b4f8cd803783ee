"""Hidden parity with the pack and ComfyUI, each checked against a reference written here.

- ComfyUI's lanczos (``comfy.utils.lanczos``, which the pack's ``common_upscale(...,
  "lanczos", "disabled")`` calls): Pillow LANCZOS on 8-bit images made by
  ``np.clip(255 * x, 0, 255).astype(np.uint8)`` (truncation), with no shortcut when the
  size already fits.
- The pack's WanVideoDecode on ``samples["looped"]``: the video decoded once, then the last
  3 latents + the first 2 decoded again, min-max normalised, and
  ``cat(seam[:, 9:], video[:, 5:])`` along frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.engine.executors import get_executor
from wfrun.packs.wanvideo.image_ops import common_upscale
from wfrun.packs.wanvideo.vae import resize_images


def comfy_lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's conversion, written out: [B, 3, H, W] floats → 8 bits (truncated) → Pillow."""
    out = []
    for image in samples:
        array = np.clip(255.0 * image.movedim(0, -1).numpy(), 0, 255).astype(np.uint8)
        resized = Image.fromarray(array).resize((width, height), resample=Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.array(resized).astype(np.float32) / 255.0).movedim(-1, 0))
    return torch.stack(out)


def test_lanczos_truncates_to_8_bits_like_comfyui():
    g = torch.Generator().manual_seed(0)
    # values just under a rounding boundary: 255*x = k + 0.7 truncates to k, rounds to k+1
    base = torch.randint(0, 254, (2, 3, 20, 28), generator=g).float()
    samples = (base + 0.7) / 255.0
    out = common_upscale(samples, 12, 10, "lanczos")
    assert out.shape == (2, 3, 10, 12)
    torch.testing.assert_close(out, comfy_lanczos(samples, 12, 10), rtol=0, atol=0)
    # the rounding version (what wfrun did before) differs on this input
    rounded = [Image.fromarray((s.movedim(0, -1).clamp(0, 1) * 255).round().to(torch.uint8).numpy())
               .resize((12, 10), resample=Image.Resampling.LANCZOS) for s in samples]
    assert not torch.equal(out, torch.stack([torch.from_numpy(np.array(r).astype(np.float32) / 255.0).movedim(-1, 0)
                                             for r in rounded]))


def test_lanczos_converts_even_when_the_size_fits():
    g = torch.Generator().manual_seed(1)
    samples = torch.rand(1, 3, 16, 16, generator=g) * 1.2 - 0.1  # out of range too: clipped
    out = common_upscale(samples, 16, 16, "lanczos")
    expected = torch.from_numpy(np.floor(np.clip(255.0 * samples.numpy(), 0, 255)) / 255.0).float()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(out, comfy_lanczos(samples, 16, 16), rtol=0, atol=0)
    assert not torch.equal(out, samples)


def test_wanvideo_encode_resize_is_comfyuis_lanczos():
    """WanVideoEncode's odd-size resize ([F, H, W, 3] images) goes the same way."""
    g = torch.Generator().manual_seed(2)
    images = torch.rand(3, 40, 50, 3, generator=g)
    out = resize_images(images, 48, 32)
    expected = comfy_lanczos(images.movedim(-1, 1), 48, 32).movedim(1, -1)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


# --- looped decode ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def vae(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    return node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]


def reference_decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """The pack's ``WanVideoVAE.decode``: de-normalise, decode, clamp to -1..1 ([3, T, H, W])."""
    model = vae.vae
    mean = torch.tensor(model.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(model.config.latents_std).view(1, -1, 1, 1, 1)
    model.disable_tiling()
    with torch.no_grad():
        return model.decode(latents.unsqueeze(0) * std + mean).sample[0].clamp(-1, 1)


def pack_looped_decode(vae, latents: torch.Tensor, normalization: str) -> torch.Tensor:
    """WanVideoDecode.decode of the pack (2025-07) for ``looped`` samples, as IMAGE."""
    images = reference_decode(vae, latents)
    if normalization == "minmax":
        images = (images - images.min()) / (images.max() - images.min())
    else:
        images = (images.clamp(-1, 1) + 1) / 2
    temp_latents = torch.cat([latents[:, -3:], latents[:, :2]], dim=1)
    temp = reference_decode(vae, temp_latents)
    temp = (temp - temp.min()) / (temp.max() - temp.min())
    images = torch.cat([temp[:, 9:], images[:, 5:]], dim=1)
    return images.clamp(0, 1).permute(1, 2, 3, 0)


@pytest.mark.parametrize("latent_frames, normalization", [(5, "default"), (3, "minmax")])
def test_looped_decode_stitches_the_seam_like_the_pack(vae, latent_frames, normalization):
    g = torch.Generator().manual_seed(latent_frames)
    latents = torch.randn(16, latent_frames, 2, 3, generator=g)
    ctx = ExecContext()
    (images,) = node("WanVideoDecode")(ctx, vae=vae, samples={"samples": latents[None], "looped": True},
                                               normalization=normalization)
    # the pack's count: 8 seam frames + the video's 4N-3 frames without its first 5 = 4N
    assert images.shape == (4 * latent_frames, 16, 24, 3)
    torch.testing.assert_close(images, pack_looped_decode(vae, latents, normalization), rtol=1e-5, atol=1e-5)
    # the order: the seam's frames 9.. first (latents 0 and 1 decoded after the video's end),
    # then the plain decode from frame 5 on
    plain = node("WanVideoDecode")(ctx, vae=vae, samples={"samples": latents[None]},
                                           normalization=normalization)[0]
    assert plain.shape[0] == 4 * latent_frames - 3
    torch.testing.assert_close(images[8:], plain[5:], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(images[:8], plain[1:9], atol=1e-3)


def test_looped_single_latent_decodes_plainly(vae):
    """The pack's slicing leaves no frame for one latent; wfrun decodes it as unlooped."""
    latents = torch.randn(16, 1, 2, 3, generator=torch.Generator().manual_seed(9))
    ctx = ExecContext()
    looped = node("WanVideoDecode")(ctx, vae=vae, samples={"samples": latents[None], "looped": True})[0]
    expected = ((reference_decode(vae, latents) + 1) / 2).clamp(0, 1).permute(1, 2, 3, 0)
    assert looped.shape == (1, 16, 24, 3)
    torch.testing.assert_close(looped, expected, rtol=1e-5, atol=1e-5)
