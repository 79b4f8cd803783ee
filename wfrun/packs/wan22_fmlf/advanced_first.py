"""WanAdvancedI2V in its first layout (387155f, 2025-11-08 18:40, replaced two hours later
by caf852e): 16 widgets with ``num_motion_frames``, ``overlap_frames``, ``auto_continue``
and the ``continue_frames`` image input, one ``high_noise_strength`` and one
``low_noise_strength`` for the middle frame, and a weight per start/middle/end frame.
Files saved then are read with that layout and run as the pack computed it then.

Reading: in-memory migration rebinds such a node to the newest layout and has no slot for
the inputs this layout alone had, so those are read from the node's saved
``widgets_values`` bound with the spec's first signature (the saved values must fit it
exactly; the later layout of the same day, 14 widgets, does not). Inputs the node gets
resolved (links, ``--set``, ``--smoke`` caps) take precedence over the saved values; an API
prompt gives them by name.

What the pack did then:

- no ``prev_latent`` ("offset mode"): with ``auto_continue`` and ``continue_frames``, the last
  ``continue_frames_count`` of those frames become the motion frames (``trim_image`` is
  their count, ``video_frame_offset`` lowered by it); an offset above 0 drops that many frames
  from each start/middle/end input of more than one frame; ``next_offset`` is offset + length;
- with ``prev_latent`` ("legacy mode"): the returned LATENT starts with the last
  ``(overlap_frames - 1) // 4 + 1`` latent frames of ``prev_latent`` (where it has that many),
  those frames' mask slots are 0, and ``next_offset`` is 0;
- a grey video (0.5) takes the last ``num_motion_frames`` motion frames at the start (area
  resize; their whole latent frames' mask slots 0), and the start image is then ignored; else
  ``start_image[:length]`` at the start (mask ``1 - start_frame_weight`` over its latent
  frames); the middle frame (when enabled) at the aligned ``middle_frame_ratio`` position,
  between frame 4 and ``length - 5``, its 4 mask slots ``(1 - high_noise_strength) ·
  middle_frame_weight`` (high) and ``(1 - low_noise_strength) · middle_frame_weight`` (low);
  ``end_image[-length:]`` at the end (mask ``1 - end_frame_weight`` over the last latent
  frames' slots, counted from the mask's end); both stages share the start and end masks;
- the low stage encodes the video again with the middle frame grey when
  ``low_noise_strength`` is 0 and a middle frame is used without motion frames; else it shares
  the high stage's latents;
- the CLIP vision outputs (all given, joined on the token axis) go to ``positive_low`` and
  ``negative``.

Differences: a ``prev_latent`` whose frames do not fit the new latent, and motion frames
longer than the video, are refused by input name where the pack fails inside.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.graph.widgets import Choice, bind, fit as fit_values
from wfrun.nodes.conditioning import fold_frame_mask
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.saved import saved_widgets
from wfrun.packs.wan22_fmlf.common import (aligned_position, empty_latent, encode, fit, grey_video, image_input,
                                           mask_frames, merge_clip_vision, place, with_clip,
                                           with_concat)
from wfrun.specs.registry import default_registry

NODE = "WanAdvancedI2V"


def first_layout_inputs(ctx: ExecContext, given: dict[str, Any]) -> dict[str, Any] | None:
    """The node's inputs by the first layout's names when it was saved with that layout, else
    None. ``given``: every input the executor received (newest layout and extras), which
    takes precedence over the saved values."""
    spec = default_registry().get(NODE)
    if spec is None or not spec.signatures:
        return None
    first, latest = spec.signatures[0], spec.signatures[-1]
    saved_values: dict[str, Any] = {}
    if ctx.saved_date == first.date:
        saved = saved_widgets(ctx.workflow_json, ctx.node_id)
        if saved and fit_values(first, 0, saved).perfect:
            saved_values = bind(spec, saved, Choice(0, "shape")).values
    own_widgets = {w.name for w in first.widgets} - {i.name for i in latest.inputs}
    if not saved_values and not any(given.get(name) is not None for name in own_widgets):
        return None  # not this layout (an API prompt names its own widgets)
    defaults = {i.name: i.default for i in first.inputs if i.default is not None}
    return {**defaults, **saved_values, **{k: v for k, v in given.items() if v is not None}}


def _prev(prev_latent: Any) -> torch.Tensor | None:
    if prev_latent is None:
        return None
    samples = prev_latent.get("samples") if isinstance(prev_latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        raise NodeInputError("prev_latent", "expected a video LATENT (samples [B, C, T, h, w])",
                             "connect the previous clip's sampled LATENT")
    return samples


def run_first_layout(ctx: ExecContext, v: dict[str, Any]) -> tuple:
    """The node's outputs as 387155f computed them (see the module docs)."""
    positive, negative, vae = v.get("positive"), v.get("negative"), v.get("vae")
    width, height, length = int(v["width"]), int(v["height"]), int(v["length"])
    latent = empty_latent(ctx, vae, width, height, length, int(v["batch_size"]))
    start = image_input("start_image", v.get("start_image"))
    middle = image_input("middle_image", v.get("middle_image"))
    end = image_input("end_image", v.get("end_image"))
    motion = v.get("motion_frames")
    continue_frames = v.get("continue_frames")
    for name, value in (("motion_frames", motion), ("continue_frames", continue_frames)):
        if value is not None and (not isinstance(value, torch.Tensor) or value.ndim != 4):
            raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, 3]")
    num_motion, overlap = int(v["num_motion_frames"]), int(v["overlap_frames"])
    offset, count = int(v["video_frame_offset"]), int(v["continue_frames_count"])
    high_strength, low_strength = float(v["high_noise_strength"]), float(v["low_noise_strength"])
    start_weight, middle_weight = float(v["start_frame_weight"]), float(v["middle_frame_weight"])
    end_weight, enable_middle = float(v["end_frame_weight"]), bool(v["enable_middle_frame"])
    prev = _prev(v.get("prev_latent"))

    trim_image = 0
    offset_mode = prev is None and offset >= 0
    overlap_latents = (overlap - 1) // 4 + 1 if overlap > 0 else 0
    if offset_mode:
        if bool(v["auto_continue"]) and continue_frames is not None and count > 0:
            motion = continue_frames[-count:]
            offset = max(0, offset - motion.shape[0])
            num_motion = trim_image = motion.shape[0]
        if offset > 0:
            start, middle, end = (None if x is None else (x[offset:] if x.shape[0] > offset else None)
                                  if x.shape[0] > 1 else x for x in (start, middle, end))
        next_offset = offset + length
    else:
        if prev is not None and overlap_latents > 0 and prev.shape[2] >= overlap_latents:
            part = prev[:, :, -overlap_latents:]
            if part.shape[0] not in (1, latent.shape[0]) or part.shape[1] != latent.shape[1] \
                    or part.shape[-2:] != latent.shape[-2:] or overlap_latents > latent.shape[2]:
                raise NodeInputError("prev_latent", f"latents of shape {tuple(part.shape)} do not fit the "
                                     f"{tuple(latent.shape)} of this clip",
                                     "continue from a clip sampled at the same size")
            latent[:, :, :overlap_latents] = part.to(latent.dtype)
        next_offset = 0

    video = grey_video(length, height, width)
    high, low = mask_frames(latent), mask_frames(latent)
    has_motion = motion is not None and num_motion > 0
    mid = max(4, min(aligned_position(v["middle_frame_ratio"], length), length - 5))
    use_middle = middle is not None and enable_middle

    def put_middle() -> None:
        if use_middle:
            place(video, mid, fit(middle[:1], width, height), "middle_image")
            high[:, :, mid:min(length, mid + 4)] = (1.0 - high_strength) * middle_weight
            low[:, :, mid:min(length, mid + 4)] = (1.0 - low_strength) * middle_weight

    def put_end() -> None:
        if end is not None:
            frames = fit(end[-length:], width, height)
            video[-frames.shape[0]:] = frames
            slots = ((frames.shape[0] - 1) // 4 + 1) * 4
            high[:, :, -slots:] = 1.0 - end_weight
            low[:, :, -slots:] = 1.0 - end_weight

    def put_overlap() -> None:
        if not offset_mode and prev is not None and overlap > 0:
            high[:, :, :overlap_latents * 4] = 0.0
            low[:, :, :overlap_latents * 4] = 0.0

    if has_motion:
        frames = fit(motion[-num_motion:], width, height, "area")
        place(video, 0, frames, "motion_frames")
        slots = ((frames.shape[0] - 1) // 4 + 1) * 4
        high[:, :, :slots] = 0.0
        low[:, :, :slots] = 0.0
        put_overlap()
        put_middle()
        put_end()
    else:
        if start is not None:
            frames = fit(start[:length], width, height)
            video[:frames.shape[0]] = frames
            slots = ((frames.shape[0] - 1) // 4 + 1) * 4
            high[:, :, :slots] = 1.0 - start_weight
            low[:, :, :slots] = 1.0 - start_weight
        put_middle()
        put_end()
        put_overlap()
    concat = encode(ctx, vae, video)
    if low_strength == 0.0 and use_middle and not has_motion:
        video_low = video.clone()
        video_low[mid:mid + 1] = 0.5
        concat_low = encode(ctx, vae, video_low)
    else:
        concat_low = concat
    clip = merge_clip_vision(clip_vision_start_image=v.get("clip_vision_start_image"),
                             clip_vision_middle_image=v.get("clip_vision_middle_image"),
                             clip_vision_end_image=v.get("clip_vision_end_image"))
    high, low = fold_frame_mask(high), fold_frame_mask(low)
    pos_high = with_concat(positive, concat, high, "positive")
    pos_low = with_concat(positive, concat_low, low, "positive")
    neg = with_concat(negative, concat, high, "negative")
    pos_low, neg = with_clip(pos_low, clip, "positive"), with_clip(neg, clip, "negative")
    return (pos_high, pos_low, neg, {"samples": latent}, 0, trim_image, next_offset)
