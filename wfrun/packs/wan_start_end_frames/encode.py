"""WanVideoStartEndImageClipEncode_2frames: the fork's start/end-frame conditioning.

What the fork computes (``nodes.py`` 2025-03-19, and 2025-03-20 with frame weights), written
out here because its numbers are not the wrapper's WanVideoImageToVideoEncode's:

- **Size**: with ``adjust_resolution`` (the official Wan I2V rule) the area is
  ``generation_width * generation_height`` and the aspect ratio is the *start* image's
  height over the *end* image's width (the fork reads them from the two images);
  ``lat_h = round(sqrt(area * ratio) // 8 // 2 * 2)``, ``lat_w = round(sqrt(area / ratio) //
  8 // 2 * 2)``, pixels = latents * 8. Without it: the widgets, latents = pixels // 8.
- **Pixels**: start and end resized (ComfyUI lanczos, 8-bit), mapped to -1..1, noise
  augmented (std ``noise_aug_strength``, black pixels kept), multiplied by
  ``start_frame_weight`` / ``end_frame_weight`` (2025-03-20 on), then
  ``[start, num_frames - 1 black frames, end]`` — num_frames + 1 frames — all multiplied by
  ``latent_strength`` *before* the VAE (the wrapper scales latents after it).
- **Latents**: the fork's ``encode_2``: the first num_frames frames as one causal run, the
  end frame on its own (a fresh cache), giving (num_frames - 1) / 4 + 2 latent frames.
- **Mask**: 1 on the first and last pixel frame, each repeated 4 times, grouped by 4 into
  4 channels; ``y`` = mask (4) + latents (16).
- **CLIP**: the *start* image only (the end frame never reaches CLIP), 224 px centre crop,
  Wan's penultimate ViT-H states, times ``clip_embed_strength``.

With unit strengths and weights and ``adjust_resolution`` off this is the computation of the
wrapper's end-frame mode (``fun_or_fl2v_model`` false) at the same size: the test checks
that equality. wfrun refuses what the fork cannot run either: ``num_frames`` not 4n+1 (its
mask reshape fails), several images in ``start`` or ``end``, and sizes that are not
multiples of 16 (Wan's transformer patches latents 2x2).

A model from ComfyUI's CLIPVisionLoader made the fork take ComfyUI's ``last_hidden_state``
(the last block's states): wfrun's CLIP_VISION records which loader made it
(``ClipVision.comfy_loader``) and gives those then, the penultimate states otherwise (Wan's
CLIPModel, this pack's loader).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.media.image import common_upscale
from wfrun.models import placement, residency
from wfrun.models.clip_vision_encode import last_hidden, penultimate
from wfrun.models.handles import ClipVision, WanVAE
from wfrun.models.vae_codec import encode_raw, latent_stats
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.conditioning import ImageEmbeds

VAE_STRIDE = (4, 8, 8)
PATCH = (1, 2, 2)


def fork_geometry(start_h: int, end_w: int, width: int, height: int, adjust: bool) -> tuple[int, int, int, int]:
    """(h, w, lat_h, lat_w) as the fork picks them (see the module doc)."""
    if not adjust:
        return height, width, height // VAE_STRIDE[1], width // VAE_STRIDE[2]
    area, ratio = width * height, start_h / end_w
    lat_h = round(np.sqrt(area * ratio) // VAE_STRIDE[1] // PATCH[1] * PATCH[1])
    lat_w = round(np.sqrt(area / ratio) // VAE_STRIDE[2] // PATCH[2] * PATCH[2])
    return lat_h * VAE_STRIDE[1], lat_w * VAE_STRIDE[2], lat_h, lat_w


def fork_mask(num_frames: int, lat_h: int, lat_w: int) -> torch.Tensor:
    """The fork's 4-channel mask [4, (num_frames - 1) / 4 + 2, lat_h, lat_w]."""
    mask = torch.zeros(num_frames + 1, lat_h, lat_w)
    mask[0] = mask[-1] = 1
    mask = torch.cat([mask[:1].repeat(4, 1, 1), mask[1:-1], mask[-1:].repeat(4, 1, 1)])
    return mask.view(mask.shape[0] // 4, 4, lat_h, lat_w).transpose(0, 1).contiguous()


def fork_pixels(image: torch.Tensor, w: int, h: int, noise_aug: float, weight: float) -> torch.Tensor:
    """IMAGE [1, H, W, 3] → [3, 1, h, w]: lanczos, -1..1, noise augmentation, weight."""
    x = common_upscale(image.movedim(-1, 1).float(), w, h, "lanczos", "disabled").transpose(0, 1) * 2 - 1
    if noise_aug > 0.0:
        noise = torch.randn(x.shape, dtype=x.dtype) * noise_aug
        x = x + torch.where(x == -1, torch.zeros_like(x), noise)
    return x * weight


def _one_image(name: str, image: Any) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] != 3:
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, 3]")
    if image.shape[0] != 1:
        raise NodeInputError(name, f"{image.shape[0]} images given; the fork conditions on one {name} frame",
                             f"pass a single image to {name}")
    return image


@executor("WanVideoStartEndImageClipEncode_2frames")
@torch.no_grad()
def start_end_image_clip_encode(
        ctx: ExecContext, clip_vision: ClipVision, start: torch.Tensor, end: torch.Tensor, vae: WanVAE,
        generation_width: int, generation_height: int, num_frames: int, force_offload: bool,
        noise_aug_strength: float, latent_strength: float, clip_embed_strength: float, adjust_resolution: bool,
        start_frame_weight: float, end_frame_weight: float, **_: Any) -> tuple:
    # The frame weights exist from 2025-03-20 on; for a save of 2025-03-19 the engine passes
    # the newest signature's defaults (1.0: no weighting, what that version did).
    start, end = _one_image("start", start), _one_image("end", end)
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected a WANVAE, got {type(vae).__name__}", "connect WanVideoVAELoader_2frames")
    if not isinstance(clip_vision, ClipVision):
        raise NodeInputError("clip_vision", f"expected a CLIP_VISION, got {type(clip_vision).__name__}",
                             "connect LoadWanVideoClipTextEncoder_2frames")
    num_frames = int(num_frames)
    if num_frames < 1 or (num_frames - 1) % 4:
        raise NodeInputError("num_frames", f"{num_frames} is not 4n+1",
                             "the fork's mask groups 4 frames per latent; use 4n+1 frames (81, 49, ...)")
    h, w, lat_h, lat_w = fork_geometry(start.shape[1], end.shape[2], int(generation_width),
                                       int(generation_height), bool(adjust_resolution))
    if h % 16 or w % 16 or h < 16 or w < 16:
        raise NodeInputError("generation_width" if w % 16 or w < 16 else "generation_height",
                             f"{w}x{h} is not a positive multiple of 16",
                             "the Wan VAE downsamples by 8 and the transformer patches by 2")

    residency.bring(clip_vision.model, ctx.device, ctx.offload_device)
    encode_clip = last_hidden if clip_vision.comfy_loader else penultimate
    clip_context = encode_clip(clip_vision, start, ctx.device, True)
    if clip_embed_strength != 1.0:
        clip_context = clip_context * clip_embed_strength
    residency.done(clip_vision.model, ctx.device, ctx.offload_device, force_offload=bool(force_offload))

    first = fork_pixels(start, w, h, float(noise_aug_strength), float(start_frame_weight))
    last = fork_pixels(end, w, h, float(noise_aug_strength), float(end_frame_weight))
    video = torch.cat([first, torch.zeros(3, num_frames - 1, h, w), last], dim=1) * float(latent_strength)
    placement.onload(vae.vae, ctx.device)
    if hasattr(vae.vae, "disable_tiling"):
        vae.vae.disable_tiling()  # the fork's end-frame encode is never tiled
    try:
        mu = encode_raw(vae.vae, vae.dtype, video.unsqueeze(0), ctx.device, separate_last=True, ctx=ctx)
    finally:
        if force_offload:
            placement.offload(vae.vae, ctx.offload_device)
    mean, std = latent_stats(vae.vae, mu)
    latents = ((mu - mean) / std)[0].cpu()
    y = torch.cat([fork_mask(num_frames, lat_h, lat_w), latents])

    max_seq_len = ((num_frames - 1) // VAE_STRIDE[0] + 2) * (lat_h * lat_w // (PATCH[1] * PATCH[2]))
    return (ImageEmbeds(num_frames=num_frames, image_embeds=y, lat_h=lat_h, lat_w=lat_w, max_seq_len=max_seq_len,
                        clip_context=clip_context.cpu(), end_image=last.cpu(), fun_or_fl2v_model=False),)

