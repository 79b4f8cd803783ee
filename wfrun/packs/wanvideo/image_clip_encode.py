"""The wrapper's first image-to-video node, ``WanVideoImageClipEncode`` (``nodes.py``,
2025-02-25; deprecated 2025-03-20 for WanVideoClipVisionEncode + WanVideoImageToVideoEncode,
moved to ``nodes_deprecated.py`` 2025-07-18): CLIP vision and VAE encoding of one start
image into image embeds, as the official Wan I2V code prepares them.

- **Size**: with ``adjust_resolution`` (on from 2025-03-01; always before) the video keeps
  the image's aspect ratio at about ``generation_width x generation_height`` pixels:
  ``lat_h = round(sqrt(area·H/W) // 8 // 2 · 2)``, ``lat_w = round(sqrt(area·W/H) // 8 // 2 · 2)``
  (numbers as Python's floor division of floats gives them), pixels ``8·lat``; without it
  the generation size itself (``// 8``).
- **CLIP**: the image centre-cropped to 224, times ``clip_embed_strength``. A model from
  ComfyUI's CLIPVisionLoader gives ComfyUI's ``encode_image().last_hidden_state`` (the last
  ViT block's output); the wrapper's own CLIP loader (and the first signatures' ``clip``)
  gives Wan's ``visual()``, the penultimate block's (:mod:`wfrun.models.clip_vision_encode`).
- **VAE**: the image (lanczos-resized, -1..1, ``noise_aug_strength`` noise except on black
  pixels) then ``num_frames - 1`` zero frames, all times ``latent_strength``, encoded; the
  mask is 1 on the first pixel frame (its latent frame's 4 mask channels) and 0 after.
  ``y`` = mask (4) + latents (16). The pack appends the image once more after the zero
  frames, but its VAE encodes ``1 + 4·((T-1)//4)`` frames, so that copy is never read;
  wfrun leaves it out.
- wfrun refuses more than one image (the pack's mask is made for one) and ``num_frames``
  not 4n+1 (the pack's mask reshape fails).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.models import placement, residency
from wfrun.models.clip_vision_encode import last_hidden, penultimate
from wfrun.models.handles import ClipVision
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.image_ops import common_upscale
from wfrun.packs.wanvideo.types import ImageEmbeds, WanVAE
from wfrun.packs.wanvideo.vae import add_noise_to_reference, encode_video

VAE_STRIDE = (4, 8, 8)
PATCH_SIZE = (1, 2, 2)


def adjusted_latent_size(height: int, width: int, area: int) -> tuple[int, int]:
    """The official Wan I2V size rule: the image's aspect ratio at about ``area`` pixels,
    latent sides even."""
    aspect = height / width
    lat_h = round(np.sqrt(area * aspect) // VAE_STRIDE[1] // PATCH_SIZE[1] * PATCH_SIZE[1])
    lat_w = round(np.sqrt(area / aspect) // VAE_STRIDE[2] // PATCH_SIZE[2] * PATCH_SIZE[2])
    return int(lat_h), int(lat_w)


def first_frame_mask(num_frames: int, lat_h: int, lat_w: int) -> torch.Tensor:
    """``[4, T, lat_h, lat_w]``: 1 on the first latent frame's 4 channels, 0 after."""
    mask = torch.zeros(4, (num_frames - 1) // 4 + 1, lat_h, lat_w)
    mask[:, 0] = 1
    return mask


@executor("WanVideoImageClipEncode")
@torch.no_grad()
def wanvideo_image_clip_encode(ctx: ExecContext, image: Any, vae: Any, generation_width: int, generation_height: int,
                               num_frames: int, force_offload: bool, noise_aug_strength: float,
                               latent_strength: float, clip_embed_strength: float, adjust_resolution: bool,
                               clip_vision: Any = None, clip: Any = None, **_: Any) -> tuple:
    name = "clip_vision" if clip is None else "clip"
    model = clip_vision if clip is None else clip
    if not isinstance(model, ClipVision):
        raise NodeInputError(name, f"expected a CLIP vision model (CLIPVisionLoader or LoadWanVideoClipTextEncoder), "
                             f"got {type(model).__name__}")
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected a WANVAE from WanVideoVAELoader, got {type(vae).__name__}")
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", f"expected an IMAGE [frames, height, width, 3], got {type(image).__name__}")
    if image.shape[0] != 1:
        raise NodeInputError("image", f"{image.shape[0]} images; this node encodes one start image",
                             "pass one image (ImageFromBatch)")
    num_frames = int(num_frames)
    if num_frames < 1 or (num_frames - 1) % 4:
        raise NodeInputError("num_frames", f"{num_frames} frames; the node needs 4n+1 (81, 77, 49, ...)")
    image = image[..., :3].float()
    height, width = int(image.shape[1]), int(image.shape[2])
    if adjust_resolution:
        lat_h, lat_w = adjusted_latent_size(height, width, int(generation_width) * int(generation_height))
    else:
        lat_h, lat_w = int(generation_height) // 8, int(generation_width) // 8
    if lat_h < 2 or lat_w < 2:
        raise NodeInputError("generation_width", f"a latent of {lat_w}x{lat_h}", "give a larger generation size")
    h, w = lat_h * 8, lat_w * 8

    residency.bring(model.model, ctx.device, ctx.offload_device)
    encode = last_hidden if (clip is None and model.comfy_loader) else penultimate
    clip_context = encode(model, image, ctx.device, True) * float(clip_embed_strength)
    residency.done(model.model, ctx.device, ctx.offload_device, force_offload=bool(force_offload))

    start = common_upscale(image.movedim(-1, 1), w, h, "lanczos").movedim(0, 1) * 2 - 1  # [3, 1, h, w]
    if noise_aug_strength > 0.0:
        start = add_noise_to_reference(start, float(noise_aug_strength))
    video = torch.cat([start, torch.zeros(3, num_frames - 1, h, w)], dim=1) * float(latent_strength)
    placement.onload(vae.vae, ctx.device)
    latents = encode_video(vae, video, ctx.device, ctx=ctx)
    if force_offload:
        placement.offload(vae.vae, ctx.offload_device)
    y = torch.cat([first_frame_mask(num_frames, lat_h, lat_w).to(latents), latents])
    max_seq_len = ((num_frames - 1) // VAE_STRIDE[0] + 1) * (lat_h * lat_w // (PATCH_SIZE[1] * PATCH_SIZE[2]))
    return (ImageEmbeds(num_frames=num_frames, image_embeds=y.cpu(), clip_context=clip_context.cpu(),
                        max_seq_len=max_seq_len, lat_h=lat_h, lat_w=lat_w),)
