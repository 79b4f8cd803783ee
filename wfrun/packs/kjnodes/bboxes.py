"""KJNodes' BBOX values: what its crop nodes hand each other.

KJNodes passes boxes as plain Python lists of ``(x, y, width, height)`` integer tuples, one
per frame (a one-box list for a "combined" box). Since 2026-07 its nodes also accept
ComfyUI's native BOUNDING_BOX dicts (``{"x", "y", "width", "height"}``), single boxes or
nested per-frame lists; :func:`boxes` reads all of these the way the pack's
``normalize_bboxes`` does, so a box from either kind of node works.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import NodeInputError

#: More boxes than any video has frames: a bigger list is not a BBOX a node made.
MAX_BOXES = 100_000


def _numbers(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in value)


def boxes(value: Any, input_name: str, bbox_format: str = "xywh") -> list[tuple[int, int, int, int]]:
    """A flat list of 4-integer boxes from a BBOX / BOUNDING_BOX value.

    Tuples are taken as already in ``bbox_format`` (their first four numbers, truncated to
    integers); dicts are converted to it. Anything else is a :class:`NodeInputError`."""
    found: list[tuple[int, int, int, int]] = []

    def walk(item: Any, depth: int) -> None:
        if len(found) > MAX_BOXES or depth > 8:
            raise NodeInputError(input_name, f"more than {MAX_BOXES} boxes or nesting deeper than 8 lists",
                                 "connect the bboxes output of a KJNodes crop node")
        if isinstance(item, (torch.Tensor, np.ndarray)):
            item = item.tolist()
        if isinstance(item, dict):
            try:
                x, y, w, h = (int(item[k]) for k in ("x", "y", "width", "height"))
            except (KeyError, TypeError, ValueError):
                raise NodeInputError(input_name, f"a box dict needs numbers x, y, width, height, found {item!r:.80}",
                                     "connect a BBOX or BOUNDING_BOX output") from None
            found.append((x, y, x + w, y + h) if bbox_format == "xyxy" else (x, y, w, h))
        elif _numbers(item) and len(item) >= 4:
            found.append(tuple(int(v) for v in item[:4]))  # type: ignore[arg-type]
        elif isinstance(item, (list, tuple)) and item and not _numbers(item):
            for inner in item:
                walk(inner, depth + 1)
        else:
            raise NodeInputError(input_name, f"not a box: {item!r:.80}",
                                 "connect a BBOX (x, y, width, height) or BOUNDING_BOX output")

    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if isinstance(value, dict) or (_numbers(value) and len(value) == 4):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise NodeInputError(input_name, f"expected a list of boxes, found {type(value).__name__}",
                             "connect a BBOX or BOUNDING_BOX output")
    for entry in value:
        walk(entry, 1)
    return found
