"""WanFirstMiddleLastFrameToVideo, WanMultiFrameRefToVideo and WanFourFrameReferenceUltimate
as the pack computed them on 2025-11-09 (commit 84525c5, the release its example workflow
``Wan22FMLF-1109update.json`` was saved with), for the widget layouts of that day: the
first/middle/last layout with ``mode`` and per-stage strengths (2025-11-08 to 2025-11-27),
the multi-frame layout with end-frame strengths (2025-11-09 to 2025-11-27, less the three
days of ``motion_amplitude``), the four-frame layout with ``mode`` (2025-11-08 to
2025-11-27). Other layouts are refused by input name (an input only they have, or by the
saved signature's date: an older save gets a newer layout's inputs at their defaults).

Each node places its frames in a grey (0.5) video of ``length`` frames, encodes it with the
VAE, and gives two positive CONDITIONINGs for Wan 2.2 A14B's two experts: ``positive_high``
(concat latents and mask for the high-noise model) and ``positive_low`` (for the low-noise
one, where the frames hold less: mask ``1 - strength``). The mask is 0 where a frame is
kept, per pixel frame (see :mod:`.common`). The negative passes through untouched (the
pack gave it the concat latents only from 2025-11-14 on); the CLIP vision output goes to
``positive_low`` only. The LATENT is zeros in the VAE's latent shape.

Differences from the pack: an RGBA frame is used as RGB (the pack fails on some of them); a
frame that does not fit in the video is refused by input name where the pack fails inside.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from wfrun.nodes.conditioning import fold_frame_mask
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wan22_fmlf.common import (aligned_position, empty_latent, encode, fit, grey_video, image_input,
                                           mask_frames, merge_clip_vision, place, refuse_other_layouts, with_clip,
                                           with_concat)

MODES = ("NORMAL", "SINGLE_PERSON")


def _mode(mode: Any) -> str:
    if mode not in MODES:
        raise NodeInputError("mode", f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def _outputs(positive: Any, negative: Any, concat_high: torch.Tensor, mask_high: torch.Tensor,
             concat_low: torch.Tensor, mask_low: torch.Tensor, clip: Any, latent: torch.Tensor) -> tuple:
    high = with_concat(positive, concat_high, fold_frame_mask(mask_high), "positive")
    low = with_concat(positive, concat_low, fold_frame_mask(mask_low), "positive")
    return (high, with_clip(low, clip, "positive"), negative, {"samples": latent})


@executor("WanFirstMiddleLastFrameToVideo")
def wan_first_middle_last(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                          length: int, batch_size: int, mode: str, middle_frame_ratio: float,
                          high_noise_mid_strength: float, low_noise_start_strength: float,
                          low_noise_mid_strength: float, low_noise_end_strength: float, start_image: Any = None,
                          middle_image: Any = None, end_image: Any = None,
                          clip_vision_start_image: Any = None, clip_vision_middle_image: Any = None,
                          clip_vision_end_image: Any = None, **rest: Any) -> tuple:
    """Start frames at the start (the mask covers them and 3 more frames: the first latent),
    one middle frame at ``middle_frame_ratio`` (aligned to a latent frame, kept between frame 4
    and ``length - 5``; its mask covers 4 frames), end frames at the end (mask: the last as
    many of the ``4·T'`` mask frames). High noise: start and end kept (mask 0), the middle at
    ``1 - high_noise_mid_strength``; low noise: each at ``1 - low_noise_*_strength``.
    ``positive_low``'s concat video is the same one, except with ``SINGLE_PERSON`` (the start
    frames only) or a low strength of exactly 0 (the frames of strength 0 left out)."""
    refuse_other_layouts(ctx, "WanFirstMiddleLastFrameToVideo", "2025-11-08", "2025-11-27", rest,
                         ("middle_frame_strength", "high_noise_strength", "low_noise_strength", "start_frame_weight",
                          "middle_frame_weight", "end_frame_weight"), "mode", "structural_repulsion_boost")
    mode = _mode(mode)
    length, width, height = int(length), int(width), int(height)
    latent = empty_latent(ctx, vae, width, height, length, batch_size)
    start = image_input("start_image", start_image)
    middle = image_input("middle_image", middle_image)
    end = image_input("end_image", end_image)
    start = None if start is None else fit(start[:length], width, height)
    middle = None if middle is None else fit(middle[:1], width, height)
    end = None if end is None else fit(end[-length:], width, height)
    clip = merge_clip_vision(clip_vision_start_image=clip_vision_start_image,
                             clip_vision_middle_image=clip_vision_middle_image,
                             clip_vision_end_image=clip_vision_end_image)

    video = grey_video(length, height, width)
    high, low = mask_frames(latent), mask_frames(latent)
    mid = max(4, min(aligned_position(middle_frame_ratio, length), length - 5))
    if start is not None:
        video[:start.shape[0]] = start
        high[:, :, :start.shape[0] + 3] = 0.0
        low[:, :, :start.shape[0] + 3] = 1.0 - low_noise_start_strength
    if middle is not None:
        place(video, mid, middle, "middle_image")
        high[:, :, mid:min(length, mid + 4)] = 1.0 - high_noise_mid_strength
        low[:, :, mid:min(length, mid + 4)] = 1.0 - low_noise_mid_strength
    if end is not None:
        video[-end.shape[0]:] = end
        high[:, :, -end.shape[0]:] = 0.0
        low[:, :, -end.shape[0]:] = 1.0 - low_noise_end_strength
    concat = encode(ctx, vae, video)

    if mode == "SINGLE_PERSON":
        video_low = grey_video(length, height, width)
        if start is not None:
            video_low[:start.shape[0]] = start
        concat_low = encode(ctx, vae, video_low)
    elif 0.0 in (low_noise_start_strength, low_noise_mid_strength, low_noise_end_strength):
        video_low = grey_video(length, height, width)
        if start is not None and low_noise_start_strength > 0.0:
            video_low[:start.shape[0]] = start
        if middle is not None and low_noise_mid_strength > 0.0:
            video_low[mid:mid + 1] = middle
        if end is not None and low_noise_end_strength > 0.0:
            video_low[-end.shape[0]:] = end
        concat_low = encode(ctx, vae, video_low)
    else:
        concat_low = concat
    return _outputs(positive, negative, concat, high, concat_low, low, clip, latent)


def parse_positions(text: Any, count: int, length: int) -> list[int]:
    """The pack's ``ref_positions``: a JSON list or comma-separated numbers; empty (or not
    readable) spreads the images evenly over the video. A value in [0, 2) is a fraction of
    ``length - 1``, any other a frame index; each is kept within the video; the list is cut
    or padded (repeating its last value) to the number of images."""
    values: list[Any] = []
    text = (text or "").strip() if isinstance(text, str) else ""
    if text:
        try:
            values = json.loads(text) if text.startswith("[") else [float(x.strip()) for x in text.split(",")
                                                                   if x.strip()]
        except ValueError:
            values = []
        if not isinstance(values, list):
            values = []
    if not values:
        values = [0] if count <= 1 else [i * (length - 1) / (count - 1) for i in range(count)]
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NodeInputError("ref_positions", f"{value!r} is not a number", "give frame indexes or fractions")
        out.append(int(value * (length - 1)) if 0 <= value < 2.0 else int(value))
    out = [max(0, min(length - 1, p)) for p in out]
    if len(out) > count:
        out = out[:count]
    elif len(out) < count:
        out.extend([out[-1]] * (count - len(out)))
    return out


@executor("WanMultiFrameRefToVideo")
def wan_multi_frame_ref(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                        length: int, batch_size: int, mode: str, ref_positions: str, ref_strength_high: float,
                        ref_strength_low: float, end_frame_strength_high: float, end_frame_strength_low: float,
                        ref_images: Any = None, clip_vision_output: Any = None, **rest: Any) -> tuple:
    """Reference image ``i`` at position ``i`` of ``ref_positions`` (see :func:`parse_positions`),
    rounded down to a latent frame's start and pushed at least 4 frames after the previous
    one. The first image is kept (mask 0 on its 4 frames) in both stages; the last goes in the
    last frame with mask ``1 - end_frame_strength_*`` on the last 4 mask frames; the others
    get ``1 - ref_strength_*`` on their 4 frames. A stage whose middle or end strength is
    exactly 0 gets a concat video without those frames. ``SINGLE_PERSON``: the high stage
    gets every frame whatever the strengths; the low stage keeps only the first image (mask 0)
    and the last (``1 - end_frame_strength_low``; in its concat video unless that strength is 0).
    A single image is only the first."""
    refuse_other_layouts(ctx, "WanMultiFrameRefToVideo", "2025-11-09", "2025-11-27", rest,
                         ("ref_strength", "fade_frames", "placeholder_gray_level", "motion_amplitude"),
                         "mode", "structural_repulsion_boost")
    mode = _mode(mode)
    images = image_input("ref_images", ref_images)
    if images is None:
        raise NodeInputError("ref_images", "no reference images", "connect the images to place in the video")
    length, width, height = int(length), int(width), int(height)
    latent = empty_latent(ctx, vae, width, height, length, batch_size)
    images = fit(images, width, height)
    count = images.shape[0]
    positions = [max(0, min(p // 4 * 4, length - 1)) for p in parse_positions(ref_positions, count, length)]
    for i in range(1, len(positions)):
        if positions[i] <= positions[i - 1] + 3:
            positions[i] = min(positions[i - 1] + 4, length - 1)

    video = grey_video(length, height, width)
    base = mask_frames(latent)
    high, low = base.clone(), base.clone()
    for i, pos in enumerate(positions):
        if i == 0:
            video[pos:pos + 1] = images[i]
            high[:, :, pos:pos + 4] = 0.0
            low[:, :, pos:pos + 4] = 0.0
        elif i == count - 1:
            video[-1:] = images[i]
            high[:, :, -4:] = 1.0 - end_frame_strength_high
            low[:, :, -4:] = 1.0 - end_frame_strength_low
        else:
            video[pos:pos + 1] = images[i]
            high[:, :, pos:min(length, pos + 4)] = 1.0 - ref_strength_high
            low[:, :, pos:min(length, pos + 4)] = 1.0 - ref_strength_low

    def selective(middle_strength: float, end_strength: float) -> torch.Tensor:
        out = grey_video(length, height, width)
        out[positions[0]:positions[0] + 1] = images[0]
        if middle_strength > 0.0:
            for i in range(1, count - 1):
                out[positions[i]:positions[i] + 1] = images[i]
        if count >= 2 and end_strength > 0.0:
            out[-1:] = images[-1]
        return out

    if mode == "NORMAL" and 0.0 in (ref_strength_high, end_frame_strength_high):
        concat_high = encode(ctx, vae, selective(ref_strength_high, end_frame_strength_high))
    else:
        concat_high = encode(ctx, vae, video)
    if mode == "SINGLE_PERSON":
        low = base.clone()
        low[:, :, positions[0]:positions[0] + 4] = 0.0
        if count >= 2:
            low[:, :, -4:] = 1.0 - end_frame_strength_low
        concat_low = encode(ctx, vae, selective(0.0, end_frame_strength_low))
    elif 0.0 in (ref_strength_low, end_frame_strength_low):
        concat_low = encode(ctx, vae, selective(ref_strength_low, end_frame_strength_low))
    else:
        concat_low = encode(ctx, vae, video)
    clip = merge_clip_vision(clip_vision_output=clip_vision_output)
    return _outputs(positive, negative, concat_high, high, concat_low, low, clip, latent)


@executor("WanFourFrameReferenceUltimate")
def wan_four_frame_reference(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                             length: int, batch_size: int, mode: str, frame_2_ratio: float,
                             frame_2_strength_high: float, frame_2_strength_low: float, enable_frame_2: str,
                             frame_3_ratio: float, frame_3_strength_high: float, frame_3_strength_low: float,
                             enable_frame_3: str, frame_1_image: Any = None, frame_2_image: Any = None,
                             frame_3_image: Any = None, frame_4_image: Any = None,
                             clip_vision_frame_1: Any = None, clip_vision_frame_2: Any = None,
                             clip_vision_frame_3: Any = None, clip_vision_frame_4: Any = None, **rest: Any) -> tuple:
    """Frame 1 at frame 0, frames 2 and 3 at their ratios, frame 4 at the last aligned frame
    (each rounded down to a latent frame's start, then pushed at least 4 frames past the one
    before, more than 4 frames apart). Frames 1 and 4 are kept in both stages (mask 0 on
    their frame and the 3 after); frames 2 and 3 (when ``enable``) get ``1 - strength`` of
    each stage on theirs. Low stage: ``SINGLE_PERSON`` keeps frame 1 only (mask and concat
    video); otherwise a low strength of 0 (or a disabled frame) leaves frames 2 and 3 of
    strength 0 out of its concat video. The high stage's concat video has every frame."""
    refuse_other_layouts(ctx, "WanFourFrameReferenceUltimate", "2025-11-08", "2025-11-27", rest,
                         ("placeholder_gray_level", "frame_2_strength", "frame_3_strength", "end_frame_offset"),
                         "mode", "structural_repulsion_boost")
    mode = _mode(mode)
    for name, value in (("enable_frame_2", enable_frame_2), ("enable_frame_3", enable_frame_3)):
        if value not in ("enable", "disable"):
            raise NodeInputError(name, f"unknown value {value!r}; expected enable or disable")
    length, width, height = int(length), int(width), int(height)
    latent = empty_latent(ctx, vae, width, height, length, batch_size)
    frames = {}
    for n, image in ((1, frame_1_image), (2, frame_2_image), (3, frame_3_image), (4, frame_4_image)):
        image = image_input(f"frame_{n}_image", image)
        frames[n] = None if image is None else fit(image[:1], width, height)
    on2, on3 = enable_frame_2 == "enable", enable_frame_3 == "enable"

    idx2 = aligned_position(frame_2_ratio, length)
    idx3 = aligned_position(frame_3_ratio, length)
    idx4 = aligned_position((length - 1) / length, length)
    if idx2 <= 4:
        idx2 = 4
    if idx3 <= idx2 + 4:
        idx3 = idx2 + 4
    if idx4 <= idx3 + 4:
        idx4 = idx3 + 4

    video = grey_video(length, height, width)
    base = mask_frames(latent)
    high, low = base.clone(), base.clone()
    if frames[1] is not None:
        video[:1] = frames[1]
        high[:, :, :4] = 0.0
        low[:, :, :4] = 0.0
    for n, index, on, s_high, s_low in ((2, idx2, on2, frame_2_strength_high, frame_2_strength_low),
                                        (3, idx3, on3, frame_3_strength_high, frame_3_strength_low)):
        if frames[n] is not None and on:
            place(video, index, frames[n], f"frame_{n}_image")
            high[:, :, index:min(length, index + 4)] = 1.0 - s_high
            low[:, :, index:min(length, index + 4)] = 1.0 - s_low
    if frames[4] is not None:
        place(video, idx4, frames[4], "frame_4_image")
        high[:, :, idx4:idx4 + 4] = 0.0
        low[:, :, idx4:idx4 + 4] = 0.0
    concat_high = encode(ctx, vae, video)

    if mode == "SINGLE_PERSON":
        low = base.clone()
        video_low = grey_video(length, height, width)
        if frames[1] is not None:
            low[:, :, :4] = 0.0
            video_low[:1] = frames[1]
        concat_low = encode(ctx, vae, video_low)
    else:
        s2 = frame_2_strength_low if on2 else 0.0
        s3 = frame_3_strength_low if on3 else 0.0
        if s2 == 0.0 or s3 == 0.0:
            video_low = grey_video(length, height, width)
            if frames[1] is not None:
                video_low[:1] = frames[1]
            if frames[2] is not None and s2 > 0.0:
                video_low[idx2:idx2 + 1] = frames[2]
            if frames[3] is not None and s3 > 0.0:
                video_low[idx3:idx3 + 1] = frames[3]
            if frames[4] is not None:
                video_low[idx4:idx4 + 1] = frames[4]
            concat_low = encode(ctx, vae, video_low)
        else:
            concat_low = encode(ctx, vae, video)
    clip = merge_clip_vision(clip_vision_frame_1=clip_vision_frame_1, clip_vision_frame_2=clip_vision_frame_2,
                             clip_vision_frame_3=clip_vision_frame_3, clip_vision_frame_4=clip_vision_frame_4)
    return _outputs(positive, negative, concat_high, high, concat_low, low, clip, latent)
