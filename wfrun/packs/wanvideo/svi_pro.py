"""WanVideoSVIProEmbeds (``nodes.py``, since 2025-12-28): image embeds for SVI 2.0 Pro long
video, one clip at a time, each continuing the last.

What the pack builds, read from its node (not copied):

- ``anchor_samples["samples"][0]`` is the anchor latent ``[C, Ta, h, w]`` (usually the
  start image encoded alone by WanVideoEncodeLatentBatch: ``Ta`` = 1);
- the clip has ``(num_frames - 1) // 4 + 1`` latent frames; the conditioning latents are
  the anchor, then (with ``prev_samples`` and ``motion_latent_count`` > 0) the *last*
  ``motion_latent_count`` latent frames of the previous clip, then zeros to the clip's
  length. Zeros, not the VAE latent of grey frames as plain I2V has: SVI's LoRAs were
  trained on zero padding;
- the mask marks the first latent frame only (its first pixel frame repeated 4 times, then
  grouped by 4): the motion latents are conditioning without being masked as known.

The pack keeps the mask apart (``image_embeds["mask"]``) and its newer sampler puts it in
front of the latents for a 36-channel I2V model. wfrun's ImageEmbeds carry ``y`` with the
mask already in front (as WanVideoImageToVideoEncode's have since the first versions), so
this node returns ``[4 + C, T, h, w]``: the same tensor the pack's sampler assembles; no
sampler change. (The pack's sampler would drop the mask and zero frames 1.. for a Fun
48/32-channel model; wfrun's sampler refuses SVI embeds there by their channel count.)

Deviations: where the anchor and motion latents are more than the clip holds, the pack
fails inside ``torch.zeros`` with a negative size; wfrun says which inputs to change.
``num_frames`` must be 4n+1 (the pack's mask reshape fails otherwise): wfrun says so.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds

#: Pixel frames per latent frame after the first (the Wan VAE's temporal stride).
TEMPORAL_STRIDE = 4


def _first_latent(value: Any, input_name: str) -> torch.Tensor:
    """The first video of a LATENT (``[B, C, T, h, w]`` → ``[C, T, h, w]``), as the pack's ``[0]``."""
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.dim() != 5 or samples.shape[0] < 1:
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise NodeInputError(input_name, f"expected video latents [batch, channels, frames, h, w], got {shape}",
                             "connect WanVideoEncodeLatentBatch, WanVideoEncode or a sampler's samples")
    return samples[0].clone()


def svi_pro_mask(num_frames: int, lat_h: int, lat_w: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[4, latent frames, h, w]``: ones on the first latent frame, zeros after."""
    latent_frames = (num_frames - 1) // TEMPORAL_STRIDE + 1
    mask = torch.zeros(TEMPORAL_STRIDE, latent_frames, lat_h, lat_w, dtype=dtype)
    mask[:, 0] = 1.0
    return mask


@executor("WanVideoSVIProEmbeds")
def wanvideo_svi_pro_embeds(ctx: ExecContext, anchor_samples: Any, num_frames: int, *,
                            prev_samples: Any = None, motion_latent_count: int, **_: Any) -> tuple:
    num_frames = int(num_frames)
    motion = int(motion_latent_count)
    if num_frames < 1 or (num_frames - 1) % TEMPORAL_STRIDE:
        raise NodeInputError("num_frames", f"{num_frames} frames: SVI Pro embeds need 4n+1 frames",
                             f"use {max(1, (num_frames - 1) // 4 * 4 + 1)} or {(num_frames - 1) // 4 * 4 + 5}")
    if motion < 0:
        raise NodeInputError("motion_latent_count", f"{motion} is below 0")
    anchor = _first_latent(anchor_samples, "anchor_samples")
    channels, _t, lat_h, lat_w = anchor.shape
    total = (num_frames - 1) // TEMPORAL_STRIDE + 1
    parts = [anchor]
    if prev_samples is not None and motion > 0:
        prev = _first_latent(prev_samples, "prev_samples")
        if prev.shape[0] != channels or prev.shape[2:] != anchor.shape[2:]:
            raise NodeInputError("prev_samples", f"previous latents {tuple(prev.shape)} do not match the anchor "
                                 f"{tuple(anchor.shape)} in channels or size",
                                 "generate every clip at the anchor image's size")
        parts.append(prev[:, -motion:].to(anchor))
    used = sum(p.shape[1] for p in parts)
    if used > total:
        raise NodeInputError("num_frames", f"{num_frames} frames make {total} latent frames, fewer than the "
                             f"{used} anchor and motion latents", "raise num_frames or lower motion_latent_count")
    parts.append(anchor.new_zeros(channels, total - used, lat_h, lat_w))
    y = torch.cat(parts, dim=1)
    mask = svi_pro_mask(num_frames, lat_h, lat_w, dtype=y.dtype)
    return (ImageEmbeds(num_frames=num_frames, image_embeds=torch.cat([mask, y]).cpu(), lat_h=int(lat_h),
                        lat_w=int(lat_w), max_seq_len=math.ceil(lat_h * lat_w / 4 * total)),)
