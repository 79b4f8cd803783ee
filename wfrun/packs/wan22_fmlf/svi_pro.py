"""WanSVIProAdvancedI2V ("Wan SVI Pro Advanced I2V", ``wan_svi_pro_advanced.py``), the layout of
2026-02-02 (d8228a1, unchanged at the pack's HEAD). The first layout (2026-02-01) named two
inputs ``motion_amplification`` / ``dynamic_strength``; a save of it is refused by name.

What the pack does (``T'`` = ``(length - 1) // 4 + 1`` latent frames, ``h, w`` the VAE's
latent size):

1. ``video_frame_offset`` above 0 drops that many frames from the front of each image input
   of more than one frame (gone when none is left); ``next_offset`` is then
   ``offset + length``, else 0. Each image's first frame is fitted to the size (bilinear,
   centre crop). The middle latent frame is ``aligned(middle_frame_ratio) // 4`` with the
   frame kept within ``[4, length - 5]``.
2. With ``prev_latent`` (continuing): ``n = min(max(1, overlap_frames // 4), T_prev)``
   motion latents, times ``detail_boost`` (``min(int(n·b), T_prev)`` above 1, else
   ``max(1, int(n·b))``), the last of ``prev_latent``; with ``motion_boost`` != 1 and two or
   more, each frame-to-frame difference is scaled and re-accumulated from the first; then
   times ``motion_influence``. The concat latents are Wan 2.1's latent mean (zero once
   normalised), frame 0 the encoded start image (zeros without one) when
   ``enable_start_frame``, then the motion latents from frame 1 (frame 0 without the start
   frame); the middle image is pushed past the motion latents (kept at its place, and only
   masked there, when it would fall off the end); the end image on the last frame. Masks
   (4 channels, one value per latent frame): start ``1 - *_start_strength`` (only with a
   start image); motion frame ``k`` from the motion start: high
   ``clamp(1 - high_start·d^k, 0.05, 0.95)``, low ``clamp(1 - low_start·d^k·0.7, 0.1, 0.95)``
   with ``d = clamp(0.9 - (b - 0.5)·0.4 if b <= 1 else 0.7 - (b - 1)·0.2, 0.05, 0.9)``;
   middle ``1 - *_mid_strength``; end 0 (high) and ``1 - low_noise_end_strength`` (low).
3. Else, with a start image: the same without motion latents (the middle image at its
   place).
4. Else: the mean latents, all-ones mask, and ``positive_low`` is ``positive_high`` (no
   CLIP vision anywhere, as the pack).

Outputs: ``positive_high``, ``positive_low`` (with the enabled images' CLIP vision outputs,
joined on the token axis), ``negative`` (high mask, CLIP vision), a zero LATENT, and the
INTs ``trim_latent`` and ``trim_image`` (always 0) and ``next_offset``.

Differences: a ``prev_latent`` of another size or batch, or a VAE other than Wan 2.1's, is
refused by input name where the pack fails inside (or pads with Wan 2.1's mean).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families import WAN21
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wan22_fmlf.common import (aligned_position, empty_latent, encode, fit, image_input,
                                           merge_clip_vision, refuse_other_layouts, with_clip, with_concat)

FIRST = "2026-02-02"
#: The first layout's names for motion_boost / detail_boost.
FIRST_LAYOUT_INPUTS = ("motion_amplification", "dynamic_strength")


def motion_count(overlap_frames: int, prev_frames: int, detail_boost: float) -> int:
    adjusted = min(max(1, int(overlap_frames) // 4), prev_frames)
    if detail_boost > 1.0:
        return min(int(adjusted * detail_boost), prev_frames)
    return max(1, int(adjusted * detail_boost))


def amplified(motion: torch.Tensor, boost: float) -> torch.Tensor:
    """Frame 0, then each next frame the last plus the scaled difference (the pack's loop)."""
    if motion.shape[2] < 2 or boost == 1.0:
        return motion
    frames = [motion[:, :, :1]]
    for i in range(1, motion.shape[2]):
        frames.append(frames[-1] + (motion[:, :, i:i + 1] - motion[:, :, i - 1:i]) * boost)
    return torch.cat(frames, dim=2)


def decay_rate(detail_boost: float) -> float:
    rate = 0.9 - (detail_boost - 0.5) * 0.4 if detail_boost <= 1.0 else 0.7 - (detail_boost - 1.0) * 0.2
    return max(0.05, min(0.9, rate))


def _prev(prev_latent: Any) -> torch.Tensor | None:
    if prev_latent is None:
        return None
    if not isinstance(prev_latent, dict):
        raise NodeInputError("prev_latent", f"expected a LATENT, got {type(prev_latent).__name__}")
    samples = prev_latent.get("samples")
    if samples is not None and (not isinstance(samples, torch.Tensor) or samples.ndim != 5):
        raise NodeInputError("prev_latent", "expected a video LATENT (samples [B, C, T, h, w])")
    return samples


@executor("WanSVIProAdvancedI2V")
def wan_svi_pro_advanced_i2v(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                             length: int, batch_size: int, motion_influence: float, overlap_frames: int,
                             motion_boost: float, detail_boost: float, enable_start_frame: bool,
                             high_noise_start_strength: float, low_noise_start_strength: float,
                             enable_middle_frame: bool, middle_frame_ratio: float, high_noise_mid_strength: float,
                             low_noise_mid_strength: float, enable_end_frame: bool, low_noise_end_strength: float,
                             video_frame_offset: int, start_image: Any = None, middle_image: Any = None,
                             end_image: Any = None, clip_vision_start_image: Any = None,
                             clip_vision_middle_image: Any = None, clip_vision_end_image: Any = None,
                             prev_latent: Any = None, **rest: Any) -> tuple:
    refuse_other_layouts(ctx, "WanSVIProAdvancedI2V", FIRST, "9999-12-31", rest, FIRST_LAYOUT_INPUTS,
                         "motion_boost", "video_frame_offset")
    length, width, height, offset = int(length), int(width), int(height), int(video_frame_offset)
    boost, detail, influence = float(motion_boost), float(detail_boost), float(motion_influence)
    use_start, use_middle, use_end = bool(enable_start_frame), bool(enable_middle_frame), bool(enable_end_frame)
    latent = empty_latent(ctx, vae, width, height, length, batch_size)
    channels, total, h, w = latent.shape[1], latent.shape[2], latent.shape[-2], latent.shape[-1]
    start, middle, end = (image_input(n, x) for n, x in (("start_image", start_image),
                                                          ("middle_image", middle_image), ("end_image", end_image)))
    next_offset = 0
    if offset > 0:
        start, middle, end = (None if x is None else (x[offset:] if x.shape[0] > offset else None)
                              if x.shape[0] > 1 else x for x in (start, middle, end))
        next_offset = offset + length
    start, middle, end = (None if x is None else fit(x[:1], width, height) for x in (start, middle, end))
    mid = max(4, min(aligned_position(middle_frame_ratio, length), length - 5)) // 4
    prev = _prev(prev_latent)
    outputs_tail = ({"samples": latent}, 0, 0, next_offset)

    if prev is None and start is None:
        if channels != WAN21.channels:
            raise NodeInputError("vae", f"the pack fills with Wan 2.1's latent mean (16 channels); this VAE makes "
                                 f"{channels}", "use the Wan 2.1 VAE (Wan 2.2 A14B uses it)")
        concat = WAN21.process_out(torch.zeros(1, channels, total, h, w))
        mask = torch.ones(1, 4, total, h, w)
        high = with_concat(positive, concat, mask, "positive")
        return (high, high, with_concat(negative, concat, mask, "negative")) + outputs_tail

    if channels != WAN21.channels:
        raise NodeInputError("vae", f"the pack fills with Wan 2.1's latent mean (16 channels); this VAE makes "
                             f"{channels}", "use the Wan 2.1 VAE (Wan 2.2 A14B uses it)")
    concat = WAN21.process_out(torch.zeros(1, channels, total, h, w))
    mask_high, mask_low = torch.ones(1, 4, total, h, w), torch.ones(1, 4, total, h, w)
    motion_start = motion_end = 0
    if use_start:
        concat[:, :, :1] = encode(ctx, vae, start[:1]) if start is not None else 0.0
    if prev is not None:
        use = motion_count(int(overlap_frames), prev.shape[2], detail)
        motion = amplified(prev[:, :, prev.shape[2] - use:].float(), boost)
        if influence != 1.0:
            motion = motion * influence
        motion_start = 1 if use_start else 0
        motion_end = min(motion_start + use, total)
        if motion_end > motion_start:
            if motion.shape[0] != 1 or motion.shape[1] != channels or motion.shape[-2:] != (h, w):
                raise NodeInputError("prev_latent", f"latents of shape {tuple(motion.shape)} do not fit the "
                                     f"[1, {channels}, T, {h}, {w}] of this clip",
                                     "continue from one clip sampled at the same size")
            concat[:, :, motion_start:motion_end] = motion[:, :, :motion_end - motion_start]
    if middle is not None and use_middle and mid < total:
        place_at = mid
        if prev is not None:
            while place_at < motion_end and place_at < total:
                place_at += 1
        if place_at < total:
            concat[:, :, place_at:place_at + 1] = encode(ctx, vae, middle[:1])
            mid = place_at
    if end is not None and use_end:
        concat[:, :, total - 1:] = encode(ctx, vae, end[:1])
    if use_start and start is not None:
        mask_high[:, :, :1] = max(0.0, 1.0 - high_noise_start_strength)
        mask_low[:, :, :1] = max(0.0, 1.0 - low_noise_start_strength)
    rate = decay_rate(detail)
    for i in range(motion_start, motion_end):
        decay = rate ** (i - motion_start)
        mask_high[:, :, i:i + 1] = max(0.05, min(0.95, 1.0 - high_noise_start_strength * decay))
        mask_low[:, :, i:i + 1] = max(0.1, min(0.95, 1.0 - low_noise_start_strength * decay * 0.7))
    if middle is not None and use_middle and mid < total:
        mask_high[:, :, mid:mid + 1] = max(0.0, 1.0 - high_noise_mid_strength)
        mask_low[:, :, mid:mid + 1] = max(0.0, 1.0 - low_noise_mid_strength)
    if end is not None and use_end:
        mask_high[:, :, total - 1:] = 0.0
        mask_low[:, :, total - 1:] = max(0.0, 1.0 - low_noise_end_strength)
    clip = merge_clip_vision(clip_vision_start_image=clip_vision_start_image if use_start else None,
                             clip_vision_middle_image=clip_vision_middle_image if use_middle else None,
                             clip_vision_end_image=clip_vision_end_image if use_end else None)
    high = with_concat(positive, concat, mask_high, "positive")
    low = with_clip(with_concat(positive, concat, mask_low, "positive"), clip, "positive")
    neg = with_clip(with_concat(negative, concat, mask_high, "negative"), clip, "negative")
    return (high, low, neg) + outputs_tail
