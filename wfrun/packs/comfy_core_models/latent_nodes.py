"""Video latents of ComfyUI's core: EmptyHunyuanLatentVideo, TrimVideoLatent and Wan 2.2's
Wan22ImageToVideoLatent (TI2V-5B: 48 channels, 16x spatial, first frames given by an
image and kept by the sampler through ``noise_mask``)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images, spatial_ratio


def latent_frames(length: int) -> int:
    """Wan's 4x temporal compression: the first frame, then one latent per 4 frames."""
    return (int(length) - 1) // 4 + 1


@executor("EmptyHunyuanLatentVideo")
def empty_hunyuan_latent_video(ctx: ExecContext, width: int, height: int, length: int, batch_size: int,
                               **_: Any) -> tuple:
    return ({"samples": torch.zeros(int(batch_size), 16, latent_frames(length), int(height) // 8, int(width) // 8)},)


@executor("TrimVideoLatent")
def trim_video_latent(ctx: ExecContext, samples: dict, trim_amount: int, **_: Any) -> tuple:
    if not isinstance(samples, dict) or "samples" not in samples:
        raise NodeInputError("samples", f"expected a LATENT, got {type(samples).__name__}", "connect a sampler's LATENT")
    out = dict(samples)
    out["samples"] = samples["samples"][:, :, int(trim_amount):]
    return (out,)


@executor("Wan22ImageToVideoLatent")
def wan22_image_to_video_latent(ctx: ExecContext, vae: WanVAE, width: int, height: int, length: int,
                                batch_size: int, start_image: torch.Tensor | None = None, **_: Any) -> tuple:
    vae = check_vae(vae)
    ratio = spatial_ratio(vae)
    channels = int(vae.vae.config.z_dim)
    latent = torch.zeros(1, channels, latent_frames(length), int(height) // ratio, int(width) // ratio)
    if start_image is None:
        return ({"samples": latent.repeat(int(batch_size), 1, 1, 1, 1)},)
    mask = torch.ones(1, 1, latent.shape[2], latent.shape[3], latent.shape[4])
    image = upscale_image(start_image[:int(length)].float(), int(width), int(height), "bilinear", "center")
    encoded = encode_images(ctx, vae, image)
    known = min(encoded.shape[2], latent.shape[2])
    latent[:, :, :known] = encoded[:, :, :known]
    mask[:, :, :known] = 0.0
    # frames still to make hold the normalised zero (what process_in maps back to 0)
    latent = latent_format(channels).process_out(latent) * mask + latent * (1.0 - mask)
    return ({"samples": latent.repeat(int(batch_size), 1, 1, 1, 1),
             "noise_mask": mask.repeat(int(batch_size), 1, 1, 1, 1)},)
