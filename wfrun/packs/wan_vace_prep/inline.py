"""VACEInline and VACESmooth (its earlier name): regenerate a stretch inside one video.

The video splits at the selection: ``images[:start_frame]`` and ``images[end_frame:]``
(``end_frame`` exclusive); the two halves are then joined as WanVACEPrep joins two clips,
from their outer ``context_frames``.

- VACEInline, and VACESmooth saved since 2026-02-28: no replaced frames; the grey stretch is
  the selection's length rounded up to 4n+1, plus ``new_frames``; the context counts go out
  as well.
- VACESmooth of 2026-02-26/27 (with ``replace_frames``; ``new_frames`` was first called
  ``add_frames``): the selection is dropped and ``2 * replace_frames + new_frames + 1`` grey
  frames take its place, as in WanVACEPrep; seven outputs.

The selection must leave frames on both sides (the pack refuses ``start_frame`` 0 and
``end_frame`` at the end) and at least the context (plus replaced frames) on each.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wan_vace_prep.prep import _transition, _two_videos


def snap_up_to_4n_plus_1(count: int) -> int:
    return count if count % 4 == 1 else count + (1 - count % 4) % 4


def _split(images: Any, start_frame: int, end_frame: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE batch [frames, height, width, channels]", "connect images")
    total = images.shape[0]
    if images.shape[1] % 16 or images.shape[2] % 16:
        raise NodeInputError("images", f"video dimensions must be divisible by 16 (the pack's rule); got "
                             f"{images.shape[2]}x{images.shape[1]}", "resize the video first")
    if end_frame <= start_frame:
        raise NodeInputError("end_frame", f"end_frame ({end_frame}) must be greater than start_frame ({start_frame})")
    if end_frame > total:
        raise NodeInputError("end_frame", f"end_frame ({end_frame}) exceeds the video's {total} frames")
    if start_frame <= 0:
        raise NodeInputError("start_frame", "start_frame 0 leaves no frames before the selection",
                             "start the selection after the context frames")
    if end_frame == total:
        raise NodeInputError("end_frame", f"end_frame ({end_frame}) is the video's end: no frames after the "
                             "selection", "end the selection before the last context frames")
    before, after = _two_videos(images[:start_frame], images[end_frame:])
    return before, after


def _enough(before: torch.Tensor, after: torch.Tensor, needed: int, what: str) -> None:
    if before.shape[0] < needed:
        raise NodeInputError("start_frame", f"{before.shape[0]} frame(s) before start_frame, {what} need {needed}",
                             "move start_frame later or use fewer context frames")
    if after.shape[0] < needed:
        raise NodeInputError("end_frame", f"{after.shape[0]} frame(s) from end_frame on, {what} need {needed}",
                             "move end_frame earlier or use fewer context frames")


def inline(images: Any, start_frame: int, end_frame: int, context_frames: int, new_frames: int) -> tuple:
    start_frame, end_frame, context_frames = int(start_frame), int(end_frame), int(context_frames)
    before, after = _split(images, start_frame, end_frame)
    _enough(before, after, context_frames, "context_frames")
    grey = snap_up_to_4n_plus_1(end_frame - start_frame) - 1 + int(new_frames)
    control, mask = _transition(before, after, context_frames, 0, grey)
    return (control, mask, before.shape[2], before.shape[1], int(control.shape[0]), before[:-context_frames],
            after[context_frames:], context_frames, int(new_frames))


@executor("VACEInline")
def vace_inline(ctx: ExecContext, images: Any, start_frame: int, end_frame: int, context_frames: int,
                new_frames: int, **_: Any) -> tuple:
    return inline(images, start_frame, end_frame, context_frames, new_frames)


@executor("VACESmooth")
def vace_smooth(ctx: ExecContext, images: Any, start_frame: int, end_frame: int, context_frames: int,
                new_frames: int, replace_frames: int | None = None, add_frames: int | None = None,
                **_: Any) -> tuple:
    if replace_frames is None:
        return inline(images, start_frame, end_frame, context_frames, new_frames)
    context_frames, replace_frames = int(context_frames), int(replace_frames)
    count = int(add_frames if add_frames is not None else new_frames)
    before, after = _split(images, int(start_frame), int(end_frame))
    needed = context_frames + replace_frames
    _enough(before, after, needed, "context_frames + replace_frames")
    control, mask = _transition(before, after, context_frames, replace_frames, count)
    return (control, mask, before.shape[2], before.shape[1], int(control.shape[0]), before[:-needed],
            after[needed:])
