"""KJNodes' BboxToInt and SplitBboxes (``nodes/batchcrop_nodes.py``): read a BBOX list
(KJNodes' ``(x, y, width, height)`` tuples or ComfyUI's BOUNDING_BOX dicts, through
:func:`wfrun.packs.kjnodes.bboxes.boxes`, the pack's ``normalize_bboxes``).

BboxToInt gives box ``index``'s x, y, width, height and its centre, ``int(x + width / 2)``
and ``int(y + height / 2)``; SplitBboxes cuts the list before ``index``.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.bboxes import boxes


@executor("BboxToInt")
def bbox_to_int(ctx: ExecContext, bboxes: Any, index: Any, **_: Any) -> tuple:
    found = boxes(bboxes, "bboxes")
    if isinstance(index, bool) or not isinstance(index, int) or not -len(found) <= index < len(found):
        raise NodeInputError("index", f"index {index!r} is outside the {len(found)} box(es)",
                             f"use 0 to {len(found) - 1}")
    x, y, w, h = found[index]
    return x, y, w, h, int(x + w / 2), int(y + h / 2)


@executor("SplitBboxes")
def split_bboxes(ctx: ExecContext, bboxes: Any, index: Any, **_: Any) -> tuple:
    found = boxes(bboxes, "bboxes")
    return found[:int(index)], found[int(index):]
