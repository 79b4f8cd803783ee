"""VideoHelperSuite's Meta Batch Manager (VHS_BatchManager, ``nodes.py``), as far as one run
of a workflow goes.

In the pack the manager makes ComfyUI run the whole workflow again and again: each run, a
Load Video node linked to it hands on the next ``frames_per_batch`` frames of its selection
and Video Combine appends what reaches it to one open output file, until the loaders run out
of frames. wfrun runs a workflow once, so it runs the *one-batch* case: a Load Video node
whose selection fits in ``frames_per_batch`` frames loads it as the pack's first (and then
only) run does, and Video Combine writes it as without the manager; a selection that needs a
second batch is refused naming ``meta_batch`` (raise ``frames_per_batch``, or disconnect the
manager and cap the frames). The pack's own check stays: with a load format whose frame
counts follow a rule (Wan: 4n+1), ``frames_per_batch`` must follow it, and the error suggests
the nearest count as the pack's does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@dataclass(frozen=True)
class MetaBatch:
    """What VHS_BatchManager's ``meta_batch`` output carries."""

    frames_per_batch: int


def meta_batch_of(value: Any) -> MetaBatch | None:
    """``value`` as a manager (None when not connected); NodeInputError for anything else."""
    if value is None or isinstance(value, MetaBatch):
        return value
    raise NodeInputError("meta_batch", f"meta_batch: expected a Meta Batch Manager's output, found "
                         f"{type(value).__name__}", "connect VHS_BatchManager's meta_batch output")


def check_batch(meta_batch: MetaBatch, frames_rule: tuple[int, int] | None, selected: int, format: str) -> None:
    """The pack's frame-rule check on ``frames_per_batch``, and wfrun's one-batch limit."""
    size = meta_batch.frames_per_batch
    if frames_rule is not None and size % frames_rule[0] != frames_rule[1]:
        div, mod = frames_rule
        error = (size - mod) % div
        suggested = size - error + (div if error > div / 2 else 0)
        raise NodeInputError("meta_batch", f"frames_per_batch {size} is incompatible with format {format} "
                             f"({div}n+{mod} frames)", f"try {suggested}")
    if selected > size:
        raise NodeInputError("meta_batch", f"the video gives {selected} frames, more than one batch of {size}: "
                             "wfrun runs a workflow once, not once per batch",
                             f"set frames_per_batch to {selected} or more, or disconnect meta_batch")


@executor("VHS_BatchManager")
def batch_manager(ctx: ExecContext, frames_per_batch: Any, **_: Any) -> tuple:
    if isinstance(frames_per_batch, bool) or not isinstance(frames_per_batch, int) or frames_per_batch < 1:
        raise NodeInputError("frames_per_batch", f"frames_per_batch is {frames_per_batch!r}", "use 1 or more")
    return (MetaBatch(frames_per_batch),)
