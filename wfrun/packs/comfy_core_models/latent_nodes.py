"""Video latents of ComfyUI's core: EmptyHunyuanLatentVideo, EmptyLatentImage, TrimVideoLatent, SetLatentNoiseMask
and Wan 2.2's Wan22ImageToVideoLatent (TI2V-5B: 48 channels, 16x spatial, first frames given
by an image and kept by the sampler through ``noise_mask``).

A ``noise_mask`` reaches the sampler in whatever shape its node gave it; :func:`reshape_mask`
fits it to the latent as ComfyUI's ``comfy.utils.reshape_mask`` does before sampling."""

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


@executor("EmptyLatentImage")
def empty_latent_image(ctx: ExecContext, width: int, height: int, batch_size: int, **_: Any) -> tuple:
    """SD's 4-channel image latent, as ComfyUI makes it whatever the model: the sampler gives
    it the Wan model's channels and one latent frame (``ksampler_nodes.fix_empty_latent``),
    at the model's size through ``downscale_ratio_spacial``."""
    return ({"samples": torch.zeros(int(batch_size), 4, int(height) // 8, int(width) // 8),
             "downscale_ratio_spacial": 8},)


@executor("TrimVideoLatent")
def trim_video_latent(ctx: ExecContext, samples: dict, trim_amount: int, **_: Any) -> tuple:
    if not isinstance(samples, dict) or "samples" not in samples:
        raise NodeInputError("samples", f"expected a LATENT, got {type(samples).__name__}", "connect a sampler's LATENT")
    out = dict(samples)
    out["samples"] = samples["samples"][:, :, int(trim_amount):]
    return (out,)


def reshape_mask(mask: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """A noise mask fitted to a latent of ``shape`` ``[B, C, (T,) h, w]``, as ComfyUI does
    before sampling: on a video latent a mask of fewer than five axes is taken as one clip
    ``[1, 1, frames, H, W]`` (its frames, pixel or latent, spread over the latent frames),
    resized trilinearly to ``(T, h, w)`` (bilinearly to ``(h, w)`` on an image latent, each
    mask frame one batch entry); then repeated over the channels and cut or tiled to the
    batch. A mask already of the latent's size comes back unchanged in value."""
    shape = tuple(shape)
    mask = mask.float()
    if len(shape) == 5:
        if mask.ndim < 5:
            mask = mask.reshape(1, 1, -1, mask.shape[-2], mask.shape[-1])
        mode = "trilinear"
    else:
        mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
        mode = "bilinear"
    mask = torch.nn.functional.interpolate(mask, size=shape[2:], mode=mode)
    if mask.shape[1] < shape[1]:
        mask = mask.repeat((1, shape[1]) + (1,) * (len(shape) - 2))[:, :shape[1]]
    if mask.shape[0] > shape[0]:
        return mask[:shape[0]]
    if mask.shape[0] < shape[0]:
        repeats = -(-shape[0] // mask.shape[0])
        mask = mask.repeat((repeats,) + (1,) * (mask.ndim - 1))[:shape[0]]
    return mask


@executor("SetLatentNoiseMask")
def set_latent_noise_mask(ctx: ExecContext, samples: Any, mask: Any, **_: Any) -> tuple:
    """The LATENT with ``noise_mask`` = the mask as ``[frames, 1, H, W]`` (1 = sample anew,
    0 = keep); its size need not match the latent's, the sampler fits it (:func:`reshape_mask`)."""
    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor):
        raise NodeInputError("samples", f"expected a LATENT, got {type(samples).__name__}",
                             "connect a LATENT (an empty latent, VAEEncode, a sampler's output)")
    if not isinstance(mask, torch.Tensor) or not mask.is_floating_point() or mask.ndim < 2 or mask.numel() == 0:
        found = f"a tensor of shape {list(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise NodeInputError("mask", f"expected a MASK [frames, height, width], found {found}",
                             "connect a MASK output to 'mask'")
    out = dict(samples)
    out["noise_mask"] = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
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
