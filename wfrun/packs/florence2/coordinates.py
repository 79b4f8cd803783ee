"""``Florence2toCoordinates`` (kijai/ComfyUI-segment-anything-2): Florence2Run's boxes as
points and boxes for Sam2Segmentation."""

from __future__ import annotations

import json
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def boxes_of(item: Any) -> list:
    """The boxes of one image of Florence2Run's ``data``: a list of ``[x0, y0, x1, y1]``
    (region tasks), or the ``{"bboxes", "labels"}`` dict phrase grounding returns since
    ComfyUI-Florence2 2025-02-12, whose ``bboxes`` are taken."""
    if isinstance(item, dict):
        return list(item.get("bboxes") or [])
    if isinstance(item, (list, tuple)):
        return list(item)
    raise NodeInputError("data", f"expected Florence2Run's data (boxes per image), got {type(item).__name__}")


def parse_indexes(index: str, count: int) -> list[int]:
    """``"0,2"`` -> ``[0, 2]``; empty -> every box of the first image."""
    if not str(index).strip():
        return list(range(count))
    try:
        return [int(part) for part in str(index).split(",")]
    except ValueError:
        raise NodeInputError("index", f"{index!r} is not a comma-separated list of box numbers",
                             "give box numbers such as 0 or 0,2, or leave it empty for every box") from None


def center(box: Any) -> dict[str, int]:
    """The pack's centre: the mean of the corners, truncated to an integer (``int()``)."""
    try:
        min_x, min_y, max_x, max_y = box
    except (TypeError, ValueError):
        raise NodeInputError("data", f"a box is {box!r}, not [x0, y0, x1, y1]") from None
    return {"x": int((min_x + max_x) / 2), "y": int((min_y + max_y) / 2)}


@executor("Florence2toCoordinates")
def florence2_to_coordinates(ctx: ExecContext, data: Any, index: str, batch: bool, **unused: Any) -> tuple:
    """``(center_coordinates, bboxes)``: a JSON string ``[{"x": .., "y": ..}, ...]`` and the
    chosen boxes as they are.

    As in the pack: the boxes of the first image only unless ``batch``, where each chosen
    index is taken from every image in turn (image order inside each index); a chosen index
    the first image lacks is an error without ``batch`` and skipped with it; no data gives
    one point at (0, 0). Difference: the pack's no-data case returns only the coordinates
    (its ``bboxes`` output is then missing); wfrun returns an empty box list beside them.
    A string ``data`` (JSON text) is parsed first, as the pack means to."""
    if isinstance(data, str):
        try:
            data = json.loads(data.replace("'", '"'))
        except json.JSONDecodeError:
            raise NodeInputError("data", "the text is not JSON", "connect Florence2Run's data output") from None
    if data is None or len(data) == 0:
        return json.dumps([{"x": 0, "y": 0}]), []
    images = [boxes_of(item) for item in data]
    first = images[0]
    points, boxes = [], []
    for idx in parse_indexes(index, len(first)):
        if not 0 <= idx < len(first):
            if batch:
                continue
            raise NodeInputError("index", f"there is no box {idx}: the first image has {len(first)}",
                                 f"pick a number below {len(first)}" if first else "the phrase found no box")
        for number, boxes_of_image in enumerate(images if batch else images[:1]):
            if idx >= len(boxes_of_image):
                raise NodeInputError("data", f"image {number} has no box {idx} (it has {len(boxes_of_image)})",
                                     "turn batch off, or pick a box every image has")
            box = boxes_of_image[idx]
            points.append(center(box))
            boxes.append(box)
    return json.dumps(points), boxes
