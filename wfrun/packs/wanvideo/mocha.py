"""The wrapper's ``MochaEmbeds`` (``mocha/nodes.py``, 2025-10-21 on): MoCha's inputs for
WanVideoSampler (:mod:`wfrun.sampling.mocha` runs them).

As the pack: the video is cut to ``4k + 1`` frames and encoded; each reference image
(``ref1``, optional ``ref2``) is encoded on its own; the mask (one frame) is brought to the
latent grid by nearest-neighbour interpolation in the VAE's dtype, set to +1 above 0.5 and
-1 elsewhere, and repeated over the 16 latent channels. The embeds are the video's latents,
the mask frame and the references along the frames; ``target_shape`` is the video's.

Where wfrun refuses what the pack would run differently or not at all: a mask of several
frames and a batch of several images in one reference (the pack's concatenation fails or
counts it as one reference), references of another size than the video (the pack's
concatenation fails), and the TAEHV tiny VAE.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.models import placement
from wfrun.models.handles import WanVAE
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds
from wfrun.packs.wanvideo.vae import VAE_OOM_HINT, encode_video, set_tiling
from wfrun.sampling.conditioning import MochaEmbeds

LATENT_CHANNELS = 16


def _video(image: Any, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]")
    return image[..., :3].float()


def latent_mask(mask: torch.Tensor, lat_h: int, lat_w: int, dtype: torch.dtype) -> torch.Tensor:
    """One mask frame ``[H, W]`` → ``[16, 1, lat_h, lat_w]`` of +1/-1 (the pack's rule:
    nearest-neighbour in ``dtype``, above 0.5 is +1, the rest -1)."""
    small = F.interpolate(mask[None, None].to(dtype), size=(lat_h, lat_w), mode="nearest")[0, 0]
    signed = torch.where(small > 0.5, 1.0, -1.0)
    return signed.float()[None, None].repeat(LATENT_CHANNELS, 1, 1, 1)


@executor("MochaEmbeds", oom_hint=VAE_OOM_HINT)
def mocha_embeds(ctx: ExecContext, vae: Any, force_offload: bool, input_video: Any, mask: Any, ref1: Any,
                 tiled_vae: bool, ref2: Any = None, **_: Any) -> tuple:
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected the Wan VAE (WANVAE from WanVideoVAELoader), got {type(vae).__name__}")
    video = _video(input_video, "input_video")
    frames, height, width = video.shape[:3]
    factor = int(getattr(vae.vae.config, "scale_factor_spatial", 8) or 8)
    lat_h, lat_w = height // factor, width // factor
    frames = (frames - 1) // 4 * 4 + 1
    video = video[:frames]
    refs = [(name, _video(img, name)) for name, img in (("ref1", ref1), ("ref2", ref2)) if img is not None]
    for name, img in refs:
        if img.shape[0] != 1:
            raise NodeInputError(name, f"a batch of {img.shape[0]} images; MoCha takes one image per reference",
                                 "pick one image (ref2 takes a second one)")
        if tuple(img.shape[1:3]) != (height, width):
            raise NodeInputError(name, f"{img.shape[2]}x{img.shape[1]} reference for a {width}x{height} video "
                                 "(the pack's latents cannot be joined)", "resize the reference to the video's size")
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise NodeInputError("mask", "expected a MASK [frames, height, width]")
    mask = mask if mask.ndim == 3 else mask[None]
    if mask.shape[0] != 1:
        raise NodeInputError("mask", f"a mask of {mask.shape[0]} frames; MoCha takes one mask frame (the pack's "
                             "concatenation fails with more)", "give the first frame's mask")
    placement.onload(vae.vae, ctx.device)
    set_tiling(vae.vae, bool(tiled_vae))
    try:
        def encode(pixels: torch.Tensor) -> torch.Tensor:  # [F, H, W, 3] in 0..1 → [16, T, h, w]
            return encode_video(vae, pixels.movedim(-1, 0) * 2.0 - 1.0, ctx.device, ctx=ctx).float().cpu()

        latents = encode(video)
        ref_latents = torch.cat([encode(img) for _, img in refs], dim=1)
    finally:
        if force_offload:
            placement.offload(vae.vae, ctx.offload_device)
    if latents.shape[2:] != (lat_h, lat_w):
        raise NodeInputError("input_video", f"{width}x{height} frames make {latents.shape[3]}x{latents.shape[2]} "
                             f"latents, not {lat_w}x{lat_h}", f"make width and height multiples of {factor}")
    embeds = torch.cat([latents, latent_mask(mask[0], lat_h, lat_w, vae.dtype), ref_latents], dim=1)
    latent_frames = latents.shape[1]
    return (ImageEmbeds(num_frames=frames, target_shape=(LATENT_CHANNELS, latent_frames, lat_h, lat_w),
                        max_seq_len=math.ceil((latent_frames * 2 + 1 + len(refs)) * lat_h * lat_w / 4),
                        lat_h=lat_h, lat_w=lat_w, mocha=MochaEmbeds(latents=embeds, num_refs=len(refs))),)
