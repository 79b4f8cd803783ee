"""WanVACEExtend, WanVACEPrep and WanVACEPrepBatch as the pack computes them (all versions
since 2026-01-03; their widget layouts are in the specs).

The frames to generate are grey (0.5) in the control video and 1 in the mask; the context
frames taken from the clips are kept as they are, with mask 0:

- Extend: ``context_frames`` frames before ``extend_from_idx`` (negative counts from the
  end), then ``new_frames`` grey ones (4n+1); ``start_images`` is the video before the
  context (with the first version's ``crossfade_mode`` on: the video up to the index).
- Join: the last ``context_frames`` of ``video_1`` before its last ``replace_frames``, then
  ``2 * replace_frames + new_frames + 1`` grey frames (the +1 makes a 4n+1 count, as the pack
  says), then the first ``context_frames`` of ``video_2`` after its first ``replace_frames``.
  ``start_images`` / ``end_images`` are what stays of each clip outside the context and
  replaced frames (the first version's ``crossfade_mode``: the clips less only the replaced
  frames; the second version called ``new_frames`` ``add_frames``).
- Join (batch): the same transition; ``is_first`` / ``is_last`` say whether the clip's
  beginning / end belong to this step's output.

The pack raises on sizes that are not multiples of 16, clips too short for the context and
a bad frame index; here those are input errors naming the input.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _video(name: str, video: Any) -> torch.Tensor:
    if not isinstance(video, torch.Tensor) or video.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]", f"connect {name}")
    if video.shape[1] % 16 or video.shape[2] % 16:
        raise NodeInputError(name, f"video dimensions must be divisible by 16 (the pack's rule); got "
                             f"{video.shape[2]}x{video.shape[1]}", "resize the video first")
    return video


def _grey(count: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((count, *like.shape[1:]), 0.5, dtype=like.dtype, device=like.device)


def _mask(total: int, start: int, stop: int, like: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros((total, like.shape[1], like.shape[2]), dtype=torch.float32, device=like.device)
    mask[start:stop] = 1.0
    return mask


@executor("WanVACEExtend")
def wan_vace_extend(ctx: ExecContext, video: Any, extend_from_idx: int, context_frames: int, new_frames: int,
                    crossfade_mode: bool = False, **_: Any) -> tuple:
    video = _video("video", video)
    length, height, width = video.shape[0], video.shape[1], video.shape[2]
    if (int(new_frames) - 1) % 4:
        raise NodeInputError("new_frames", f"new_frames must be 4n+1 (1, 5, 9, ...), got {new_frames}")
    index = length + int(extend_from_idx) if extend_from_idx < 0 else int(extend_from_idx)
    if not 0 <= index < length:
        raise NodeInputError("extend_from_idx", f"extend_from_idx resolves to {index}, outside a video of {length} "
                             f"frames (valid: 0 to {length - 1}, or -{length} to -1)")
    if context_frames > index:
        raise NodeInputError("context_frames", f"{context_frames} context frames need that many frames before "
                             f"frame {index}; at most {index} here")
    context = video[index - context_frames:index]
    control = torch.cat([context, _grey(int(new_frames), video)], dim=0)
    mask = _mask(int(context_frames) + int(new_frames), int(context_frames), control.shape[0], video)
    start_images = video[:index] if crossfade_mode else video[:index - context_frames]
    return control, mask, width, height, int(control.shape[0]), start_images, int(context_frames), int(new_frames)


def _transition(video_1: torch.Tensor, video_2: torch.Tensor, context_frames: int, replace_frames: int,
                new_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The control video and mask between the two clips."""
    if replace_frames > 0:
        before = video_1[-(context_frames + replace_frames):-replace_frames]
        after = video_2[replace_frames:context_frames + replace_frames]
    else:
        before, after = video_1[-context_frames:], video_2[:context_frames]
    grey = _grey(2 * replace_frames + new_frames + 1, video_1)
    control = torch.cat([before, grey, after], dim=0)
    return control, _mask(control.shape[0], context_frames, context_frames + grey.shape[0], video_1)


def _two_videos(video_1: Any, video_2: Any) -> tuple[torch.Tensor, torch.Tensor]:
    video_1, video_2 = _video("video_1", video_1), _video("video_2", video_2)
    if video_1.shape[1:3] != video_2.shape[1:3]:
        raise NodeInputError("video_2", f"video sizes must match: video_1 is {video_1.shape[2]}x{video_1.shape[1]}, "
                             f"video_2 is {video_2.shape[2]}x{video_2.shape[1]}")
    return video_1, video_2


def _frames(new_frames: Any, add_frames: Any) -> int:
    """``new_frames``, named ``add_frames`` in the pack's first versions (a file of those
    versions saves ``add_frames``; the engine then fills ``new_frames`` from the newest spec)."""
    return int(add_frames if add_frames is not None else new_frames)


def _long_enough(name: str, video: torch.Tensor, needed: int) -> None:
    if video.shape[0] < needed:
        raise NodeInputError(name, f"{name} has {video.shape[0]} frames; context_frames + replace_frames need "
                             f"{needed}", "use fewer context or replace frames")


@executor("WanVACEPrep")
def wan_vace_prep(ctx: ExecContext, video_1: Any, video_2: Any, context_frames: int, replace_frames: int,
                  new_frames: int, add_frames: int | None = None, crossfade_mode: bool = False,
                  **_: Any) -> tuple:
    video_1, video_2 = _two_videos(video_1, video_2)
    context_frames, replace_frames, count = int(context_frames), int(replace_frames), _frames(new_frames, add_frames)
    needed = context_frames + replace_frames
    _long_enough("video_1", video_1, needed)
    _long_enough("video_2", video_2, needed)
    control, mask = _transition(video_1, video_2, context_frames, replace_frames, count)
    if crossfade_mode:
        start_images = video_1[:-replace_frames] if replace_frames > 0 else video_1
        end_images = video_2[replace_frames:]
    else:
        start_images, end_images = video_1[:-needed], video_2[needed:]
    return (control, mask, video_1.shape[2], video_1.shape[1], int(control.shape[0]), start_images, end_images,
            context_frames, replace_frames, count)


@executor("WanVACEPrepBatch")
def wan_vace_prep_batch(ctx: ExecContext, video_1: Any, video_2: Any, is_first: bool, is_last: bool,
                        context_frames: int, replace_frames: int, new_frames: int, debug: bool,
                        **_: Any) -> tuple:
    video_1, video_2 = _two_videos(video_1, video_2)
    context_frames, replace_frames, count = int(context_frames), int(replace_frames), int(new_frames)
    needed = context_frames + replace_frames
    _long_enough("video_1", video_1, needed if is_first else 2 * needed)
    _long_enough("video_2", video_2, needed)
    control, mask = _transition(video_1, video_2, context_frames, replace_frames, count)
    start_images = video_1[:-needed] if is_first else video_1[needed:-needed]
    end_images = video_2[needed:] if is_last else video_2[:0]
    return (control, mask, video_1.shape[2], video_1.shape[1], int(control.shape[0]), start_images, end_images,
            context_frames, replace_frames, count)
