"""WanAdvancedI2V ("Wan Advanced I2V (Ultimate)") as the pack computed it on 2025-12-31
(commit 712c82b, the release its example workflow ``SVI pro.json`` was saved with), for the
widget layout with ``high_noise_start_strength`` and ``prev_latent`` (2025-12-29 to
2026-01-26; the 15-widget release of 2025-12-29 shares its date and runs so too, its start
strength at the newest default 1, which is what it did), and for the layout of 2026-01-27
(ec6cac9, unchanged since), which adds three inputs (an older save gets them at their
defaults, which change nothing):

- ``enable_start_frame`` / ``enable_end_frame`` (default true): false leaves the start / end
  image out everywhere ``enable_middle_frame`` leaves the middle one out — the grey video,
  the SVI latent frame, the mask (kept at 1), the low stage's zero-strength video and the
  CLIP vision join — but not the ``SINGLE_PERSON`` low video, which still takes the start
  image, as the pack's does. From this layout on, ``enable_middle_frame`` false also leaves
  ``clip_vision_middle_image`` out of the join (before, only the frame).
- ``svi_motion_strength`` (default 1): SVI continuing multiplies the ``prev_latent`` motion
  latents by it before setting them.

The first layout (387155f, 2025-11-08: motion/overlap counts, ``auto_continue``, per-frame
weights) is read and run as the pack did then (:mod:`.advanced_first`). The layouts between
(caf852e of the same day to 2025-12-28) are refused by input
name (by the saved signature's date where the inputs alone cannot tell), as are ``long_video_mode``
``LATENT_CONTINUE`` (added 2026-01-02 in the same layout) and a ``structural_repulsion_boost``
above 1 (its spatial-gradient mask is not implemented; at 1 the pack skips it too, as it does
in SVI mode with a start image or a ``prev_latent`` to continue, whose branch returns before
it, for 4 frames or fewer, and without two of the start, middle and end images, between
which its gradient is computed).

Outputs: ``positive_high`` / ``positive_low`` (Wan 2.2 A14B's two experts), ``negative``
(with the high stage's concat latents and mask), a zero LATENT in the VAE's shape, and the
INTs ``trim_latent`` (always 0), ``trim_image`` and ``next_offset``. The CLIP vision
outputs (joined on the token axis) go to ``positive_low`` and ``negative``.

Before anything else, with ``long_video_mode`` AUTO_CONTINUE or SVI and ``motion_frames``,
only the last ``continue_frames_count`` motion frames are used (``trim_image`` is their
count, and ``video_frame_offset`` is lowered by it); a ``video_frame_offset`` above 0 then
drops that many frames from the front of each image input of more than one frame (the
input is dropped when it has no more); ``next_offset`` is ``video_frame_offset + length``.

SVI (with a start image, or with ``prev_latent`` and ``continue_frames_count > 0``) builds
the concat latents directly (Wan 2.1's latent mean elsewhere, so zero once normalised):
latent frame 0 the start image encoded alone (continuing without one: zeros, not the
mean), then, continuing, the last ``(continue_frames_count - 1) // 4 + 1`` latent frames of
``prev_latent`` (times ``svi_motion_strength``); the middle
image encoded alone at latent frame ``middle // 4`` and the end image at the last. Its masks
are per latent frame (``[1, 1, T', h, w]``): frame 0 at ``1 - *_start_strength``, the middle
at ``1 - *_mid_strength``, the end at 0 (high) or ``1 - low_noise_end_strength``; the motion
latents keep mask 1, as the SVI LoRAs expect. (From 2026-01-27 the pack repeats these masks
to 4 channels; the Wan model's input repeats a 1-channel mask so, hence the same.)

Otherwise (NORMAL and AUTO_CONTINUE, and SVI with neither) the frames go in a grey video
that is encoded whole, with a per-pixel-frame mask (see :mod:`.common`): motion frames at
the start (kept whole latent frames), else start frames (DISABLED without motion frames:
``start_image[:length]`` and 3 more mask frames; else the first frame and its latent
frame), one middle frame at ``middle_frame_ratio`` (aligned, between frame 4 and
``length - 5``, 4 mask frames), the end frame(s) at the end. The low stage encodes its own
video with ``SINGLE_PERSON`` (motion or start frames only) or a low strength of exactly 0
(those frames left out).

Differences from the pack: an RGBA frame is used as RGB (the pack fails on some);
frames that do not fit, a ``prev_latent`` of another size or batch and SVI on a VAE other
than Wan 2.1's (the pack pads with Wan 2.1's latent mean) are refused by input name where
the pack fails inside.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families import WAN21
from wfrun.nodes.conditioning import fold_frame_mask
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wan22_fmlf.advanced_first import first_layout_inputs, run_first_layout
from wfrun.packs.wan22_fmlf.common import (aligned_position, empty_latent, encode, fit, grey_video, image_input,
                                           mask_frames, merge_clip_vision, place, refuse_other_layouts, with_clip,
                                           with_concat)

FIRST = "2025-12-29"
NEWEST = "2026-01-27"  # ec6cac9: enable_start_frame, enable_end_frame, svi_motion_strength
MODES = ("NORMAL", "SINGLE_PERSON")
LONG_MODES = ("DISABLED", "AUTO_CONTINUE", "SVI")


def _prev_samples(prev_latent: Any) -> torch.Tensor | None:
    if prev_latent is None:
        return None
    if not isinstance(prev_latent, dict):
        raise NodeInputError("prev_latent", f"expected a LATENT, got {type(prev_latent).__name__}",
                             "connect the previous clip's sampled LATENT")
    samples = prev_latent.get("samples")
    if samples is not None and (not isinstance(samples, torch.Tensor) or samples.ndim != 5):
        raise NodeInputError("prev_latent", "expected a video LATENT (samples [B, C, T, h, w])",
                             "connect the previous clip's sampled LATENT")
    return samples


def _svi(ctx: ExecContext, vae: Any, latent: torch.Tensor, length: int, start: torch.Tensor | None,
         middle: torch.Tensor | None, end: torch.Tensor | None, mid: int, prev: torch.Tensor | None,
         continue_frames_count: int, strengths: dict[str, float], use_start: bool,
         motion_strength: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The SVI concat latents and the high and low masks (see the module docs)."""
    channels, h, w = latent.shape[1], latent.shape[-2], latent.shape[-1]
    if channels != WAN21.channels:
        raise NodeInputError("vae", f"SVI pads with Wan 2.1's latent format (16 channels); this VAE makes {channels}",
                             "use the Wan 2.1 VAE (Wan 2.2 A14B uses it)")
    total = latent.shape[2]
    concat = WAN21.process_out(torch.zeros(1, channels, total, h, w))
    if use_start and start is not None:
        concat[:, :, :1] = encode(ctx, vae, start[:1])
    elif use_start and prev is not None:  # continuing without a start image: a zero anchor
        concat[:, :, :1] = 0.0
    if prev is not None:
        count = min(prev.shape[2], (int(continue_frames_count) - 1) // 4 + 1)
        motion = prev[:, :, prev.shape[2] - count:]
        if 1 + count <= total:  # more motion latents than fit: the pack leaves them out
            if motion.shape[0] != 1 or motion.shape[1] != channels or motion.shape[-2:] != (h, w):
                raise NodeInputError("prev_latent", f"latents of shape {tuple(motion.shape)} do not fit the "
                                     f"[1, {channels}, T, {h}, {w}] of this clip",
                                     "continue from one clip sampled at the same size")
            concat[:, :, 1:1 + count] = motion.float() * motion_strength
    mid_latent, last = mid // 4, total - 1
    if middle is not None and mid_latent < total:
        concat[:, :, mid_latent:mid_latent + 1] = encode(ctx, vae, middle[:1])
    if end is not None:
        concat[:, :, last:last + 1] = encode(ctx, vae, end[:1])
    high, low = torch.ones(1, 1, total, h, w), torch.ones(1, 1, total, h, w)
    if use_start:
        high[:, :, :1] = max(0.0, 1.0 - strengths["high_start"])
        low[:, :, :1] = max(0.0, 1.0 - strengths["low_start"])
    if middle is not None:
        high[:, :, mid_latent:min(total, mid_latent + 1)] = max(0.0, 1.0 - strengths["high_mid"])
        low[:, :, mid_latent:min(total, mid_latent + 1)] = max(0.0, 1.0 - strengths["low_mid"])
    if end is not None:
        high[:, :, last:last + 1] = 0.0
        low[:, :, last:last + 1] = max(0.0, 1.0 - strengths["low_end"])
    return concat, high, low


@executor("WanAdvancedI2V")
def wan_advanced_i2v(ctx: ExecContext, **inputs: Any) -> tuple:
    """The first layout of 2025-11-08 (``advanced_first``) where the node was saved with it,
    else the layouts of 2025-12-29 on (:func:`newest_layouts`)."""
    first = first_layout_inputs(ctx, inputs)
    if first is not None:
        return run_first_layout(ctx, first)
    return newest_layouts(ctx, **inputs)


def newest_layouts(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                     length: int, batch_size: int, mode: str, middle_frame_ratio: float, video_frame_offset: int,
                     long_video_mode: str, continue_frames_count: int, high_noise_start_strength: float,
                     high_noise_mid_strength: float, low_noise_start_strength: float, low_noise_mid_strength: float,
                     low_noise_end_strength: float, structural_repulsion_boost: float, enable_middle_frame: bool,
                     enable_start_frame: bool, enable_end_frame: bool, svi_motion_strength: float,
                     start_image: Any = None, middle_image: Any = None, end_image: Any = None,
                     motion_frames: Any = None, clip_vision_start_image: Any = None,
                     clip_vision_middle_image: Any = None, clip_vision_end_image: Any = None,
                     prev_latent: Any = None, **rest: Any) -> tuple:
    # no layout after 2026-01-27 is known (the pack's HEAD, 7140cd2, has the same), so no upper date
    refuse_other_layouts(ctx, "WanAdvancedI2V", FIRST, "9999-12-31", rest,
                         ("num_motion_frames", "overlap_frames", "auto_continue", "continue_frames",
                          "high_noise_strength", "low_noise_strength", "start_frame_weight", "middle_frame_weight",
                          "end_frame_weight"), "high_noise_start_strength", "long_video_mode")
    if mode not in MODES:
        raise NodeInputError("mode", f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if long_video_mode not in LONG_MODES:
        raise NodeInputError("long_video_mode", f"{long_video_mode!r} is not implemented; wfrun implements "
                             f"{', '.join(LONG_MODES)}", "LATENT_CONTINUE came after this layout")
    length, width, height = int(length), int(width), int(height)
    offset, count = int(video_frame_offset), int(continue_frames_count)
    enable_middle, use_start, use_end = bool(enable_middle_frame), bool(enable_start_frame), bool(enable_end_frame)
    newest = ctx.saved_date is None or ctx.saved_date >= NEWEST
    motion_strength = float(svi_motion_strength)
    latent = empty_latent(ctx, vae, width, height, length, batch_size)
    start = image_input("start_image", start_image)
    middle = image_input("middle_image", middle_image)
    end = image_input("end_image", end_image)
    motion = None if motion_frames is None else motion_frames
    if motion is not None and (not isinstance(motion, torch.Tensor) or motion.ndim != 4):
        raise NodeInputError("motion_frames", "expected an IMAGE batch [frames, height, width, 3]")
    has_motion = motion is not None and motion.shape[0] > 0
    pure = not has_motion and long_video_mode == "DISABLED"
    prev = _prev_samples(prev_latent)

    trim_image = 0
    if offset >= 0:
        if long_video_mode in ("AUTO_CONTINUE", "SVI") and has_motion and count > 0:
            motion = motion[-min(count, motion.shape[0]):]
            offset = max(0, offset - motion.shape[0])
            trim_image = motion.shape[0]
        if offset > 0:
            start, middle, end = (None if x is None else (x[offset:] if x.shape[0] > offset else None)
                                  if x.shape[0] > 1 else x for x in (start, middle, end))
        next_offset = offset + length
    else:
        next_offset = 0
    if motion is not None and motion.shape[0] > 0:
        motion = fit(motion, width, height, "area")
    if start is not None:
        start = fit(start[:length] if pure else start[:1], width, height)
    if middle is not None:
        middle = fit(middle[:1], width, height)
    if end is not None:
        end = fit(end[-length:] if pure else end[-1:], width, height)
    clip = merge_clip_vision(clip_vision_start_image=clip_vision_start_image if use_start else None,
                             clip_vision_middle_image=clip_vision_middle_image if enable_middle or not newest
                             else None,
                             clip_vision_end_image=clip_vision_end_image if use_end else None)
    mid = max(4, min(aligned_position(middle_frame_ratio, length), length - 5))
    strengths = {"high_start": high_noise_start_strength, "high_mid": high_noise_mid_strength,
                 "low_start": low_noise_start_strength, "low_mid": low_noise_mid_strength,
                 "low_end": low_noise_end_strength}
    used_middle = middle if enable_middle else None
    used_start = start if use_start else None
    used_end = end if use_end else None

    if long_video_mode == "SVI":
        continuing = prev is not None and count > 0
        if continuing or start is not None:
            concat, high, low = _svi(ctx, vae, latent, length, start, used_middle, used_end, mid,
                                     prev if continuing else None, count, strengths, use_start, motion_strength)
            pos_high = with_concat(positive, concat, high, "positive")
            pos_low = with_clip(with_concat(positive, concat, low, "positive"), clip, "positive")
            neg = with_clip(with_concat(negative, concat, high, "negative"), clip, "negative")
            return (pos_high, pos_low, neg, {"samples": latent}, 0, trim_image, next_offset)

    # The pack applies the boost only here, after its SVI branch has returned (so an SVI
    # node never reads it), for more than 4 frames, between two of its images: start and
    # middle, middle and end (the middle enabled), or start and end (without it).
    paired = (middle is not None and enable_middle and (start is not None or end is not None)) or (
        start is not None and end is not None and (middle is None or not enable_middle))
    if structural_repulsion_boost is not None and float(structural_repulsion_boost) > 1.001 and length > 4 \
            and paired:
        raise NodeInputError("structural_repulsion_boost", f"{structural_repulsion_boost} is not implemented "
                             "(the spatial-gradient mask)", "set it to 1.0")
    video = grey_video(length, height, width)
    high, low = mask_frames(latent), mask_frames(latent)

    def put_middle() -> None:
        if used_middle is not None:
            place(video, mid, used_middle, "middle_image")
            high[:, :, mid:min(length, mid + 4)] = max(0.0, 1.0 - high_noise_mid_strength)
            low[:, :, mid:min(length, mid + 4)] = max(0.0, 1.0 - low_noise_mid_strength)

    if has_motion and long_video_mode != "SVI":
        place(video, 0, motion, "motion_frames")
        kept = ((motion.shape[0] - 1) // 4 + 1) * 4
        high[:, :, :kept] = 0.0
        low[:, :, :kept] = 0.0
        put_middle()
        if used_end is not None:
            video[-1:] = used_end[-1:]
            high[:, :, -1:] = 0.0
            low[:, :, -1:] = max(0.0, 1.0 - low_noise_end_strength)
    else:
        if used_start is not None:
            video[:used_start.shape[0]] = used_start
            kept = min(used_start.shape[0] + 3, length) if pure else ((used_start.shape[0] - 1) // 4 + 1) * 4
            high[:, :, :kept] = max(0.0, 1.0 - high_noise_start_strength)
            low[:, :, :kept] = max(0.0, 1.0 - low_noise_start_strength)
        put_middle()
        if used_end is not None:
            video[-used_end.shape[0]:] = used_end
            last = used_end.shape[0] if pure else 1
            high[:, :, -last:] = 0.0
            low[:, :, -last:] = max(0.0, 1.0 - low_noise_end_strength)
    concat = encode(ctx, vae, video)

    if mode == "SINGLE_PERSON":
        video_low = grey_video(length, height, width)
        if motion is not None:
            place(video_low, 0, motion, "motion_frames")
        elif start is not None:
            video_low[:start.shape[0]] = start
        concat_low = encode(ctx, vae, video_low)
    elif 0.0 in (low_noise_start_strength, low_noise_mid_strength, low_noise_end_strength):
        video_low = grey_video(length, height, width)
        if motion is not None and low_noise_start_strength > 0.0:
            place(video_low, 0, motion, "motion_frames")
        elif used_start is not None and low_noise_start_strength > 0.0:
            video_low[:used_start.shape[0]] = used_start
        if used_middle is not None and low_noise_mid_strength > 0.0:
            video_low[mid:mid + 1] = used_middle
        if used_end is not None and low_noise_end_strength > 0.0:
            if pure:
                video_low[-used_end.shape[0]:] = used_end
            else:
                video_low[-1:] = used_end[-1:]
        concat_low = encode(ctx, vae, video_low)
    else:
        concat_low = concat
    high, low = fold_frame_mask(high), fold_frame_mask(low)
    pos_high = with_concat(positive, concat, high, "positive")
    pos_low = with_clip(with_concat(positive, concat_low, low, "positive"), clip, "positive")
    neg = with_clip(with_concat(negative, concat, high, "negative"), clip, "negative")
    return (pos_high, pos_low, neg, {"samples": latent}, 0, trim_image, next_offset)
