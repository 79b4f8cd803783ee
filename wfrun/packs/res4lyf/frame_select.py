"""RES4LYF's ``Frame Select`` (``images.py`` Frame_Select, the same from c77d208, 2025-03-07,
to the pack's HEAD): frame ``select`` of an IMAGE batch, as a batch of one
(``frames[select].unsqueeze(0)``). Python's indexing applies, as in the pack: a negative
``select`` (only reachable through a link; the widget's minimum is 0) counts from the end,
and one outside the batch is the pack's IndexError, named here."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Frame Select", pure=True)
def frame_select(ctx: ExecContext, frames: Any, select: Any, **_: Any) -> tuple:
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise NodeInputError("frames", "frames: expected an IMAGE [frames, height, width, channels]",
                             "connect an IMAGE output to 'frames'")
    if isinstance(select, bool) or not isinstance(select, int):
        raise NodeInputError("select", f"select: expected a whole number, found {select!r}")
    if not -frames.shape[0] <= select < frames.shape[0]:
        raise NodeInputError("select", f"frame {select} of a batch of {frames.shape[0]} does not exist "
                             "(the pack's IndexError)", f"choose 0 to {frames.shape[0] - 1}")
    return (frames[select].unsqueeze(0).clone(),)
