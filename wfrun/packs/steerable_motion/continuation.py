"""VideoContinuationGenerator: the control video and mask for continuing a clip with VACE.

Output frames, ``total_output_frames`` of them (4n+1, for Wan):

1. the last ``overlap`` frames of ``input_video_frames`` (``overlap`` = ``overlap_frames``
   capped by the input's and the output's length): known frames the sampler keeps;
2. middle frames: grey at ``empty_frame_fill_level`` or, with ``control_images`` (resized
   to the input's size with Lanczos), control frames — in the "at beginning" mode the
   control sequence is aligned with output frame 0, so its first ``overlap`` frames (hidden
   under the input frames) are skipped; in the "after overlap" mode it starts right after
   the overlap. Too few control frames are padded with grey;
3. ``end_frame``'s first image (resized likewise), when given and there is room after the
   overlap.

Mask (1 = generate, 0 = keep): ones, with the overlap and end frames 0. In the "at
beginning" mode the middle frames are 0 too when enough control frames remained after the
skip to fill them all (then the whole middle is taken as given). An ``inpaint_mask``
(resized nearest-exact; too few frames repeated in a cycle, too many cut) replaces that
mask, again with the overlap and end frames forced to 0 — identically in both modes, as
in the pack.

Faithful to the pack at 3c28833 (2025-06-27). Its earlier option spelling
``start_sequence_at_beginning_but_prioritise_input_frames`` (a rename only) means the same
mode here; any other value takes the "after overlap" branch, as the pack's ``else`` does.
An empty input gives the pack's placeholder: black 64x64 frames and an all-ones mask.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale, upscale_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

AT_BEGINNING = ("start_sequence_at_beginning_and_prioritise_input_frames",
                "start_sequence_at_beginning_but_prioritise_input_frames")


def _grey(count: int, height: int, width: int, channels: int, level: float) -> torch.Tensor:
    return torch.full((count, height, width, channels), float(level))


def middle_frames(control: torch.Tensor | None, count: int, skip: int, size: tuple[int, int, int],
                  level: float) -> torch.Tensor:
    """``count`` frames from ``control`` after its first ``skip``, grey-padded; all grey without."""
    height, width, channels = size
    if count <= 0:
        return torch.empty((0, height, width, channels))
    if control is None:
        return _grey(count, height, width, channels, level)
    taken = control[skip:skip + count]
    return torch.cat([taken, _grey(count - taken.shape[0], height, width, channels, level)])


def fit_mask_frames(mask: torch.Tensor, frames: int) -> torch.Tensor:
    """``mask`` repeated in a cycle up to ``frames``, or cut to it."""
    if mask.shape[0] < frames:
        mask = mask.repeat(-(-frames // mask.shape[0]), 1, 1)
    return mask[:frames]


@executor("VideoContinuationGenerator")
def video_continuation_generator(ctx: ExecContext, input_video_frames: Any, total_output_frames: int,
                                 overlap_frames: int, empty_frame_fill_level: float,
                                 how_to_use_control_images: str, how_to_use_inpaint_masks: str,
                                 end_frame: Any = None, control_images: Any = None, inpaint_mask: Any = None,
                                 **_: Any) -> tuple:
    total = int(total_output_frames)
    if total < 1 or (total - 1) % 4:
        raise NodeInputError("total_output_frames", f"total_output_frames is {total}; Wan needs 4n+1 frames",
                             "use 1, 5, 9, ..., 81")
    video = input_video_frames
    if video is None or (isinstance(video, torch.Tensor) and video.shape[0] == 0):
        return torch.zeros((total, 64, 64, 3)), torch.ones((total, 64, 64))
    if not isinstance(video, torch.Tensor) or video.ndim != 4:
        raise NodeInputError("input_video_frames", "expected an IMAGE [frames, height, width, channels]")
    video = video.float().cpu()
    frames, height, width, channels = video.shape
    overlap = max(0, min(int(overlap_frames), frames, total))
    start = video[frames - overlap:]

    ends = 1 if isinstance(end_frame, torch.Tensor) and end_frame.shape[0] > 0 and total > overlap else 0
    end = torch.empty((0, height, width, channels))
    if ends:
        end = end_frame[:1].float().cpu()
        if end.shape[1:] != (height, width, channels):
            end = upscale_image(end, width, height, "lanczos")

    control = None
    if isinstance(control_images, torch.Tensor):
        control = upscale_image(control_images.float().cpu(), width, height, "lanczos")
    controls_at_start = how_to_use_control_images in AT_BEGINNING
    middle_count = total - overlap - ends
    skip = min(overlap, control.shape[0]) if control is not None and controls_at_start else 0
    middle = middle_frames(control, middle_count, skip, (height, width, channels), empty_frame_fill_level)
    output = torch.cat([start, middle, end])

    masks_at_start = how_to_use_inpaint_masks in AT_BEGINNING
    mask = torch.ones((total, height, width))
    if isinstance(inpaint_mask, torch.Tensor):
        resized = common_upscale(inpaint_mask.float().cpu().unsqueeze(1), width, height, "nearest-exact").squeeze(1)
        mask = fit_mask_frames(resized, total).clone()
    elif masks_at_start and control is not None and middle_count > 0:
        if control.shape[0] - min(overlap, control.shape[0]) >= middle_count:
            mask[overlap:overlap + middle_count] = 0.0  # the control frames are all given
    mask[:overlap] = 0.0
    if ends:
        mask[-ends:] = 0.0
    return output, mask
