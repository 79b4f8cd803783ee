"""``PointsEditor`` of KJNodes (``nodes/curve_nodes.py``): a canvas widget where the user
clicked positive and negative points and drew boxes; the node turns what the widgets saved into
coordinate strings, boxes, a box mask and a crop of the background image."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_TEXT = 1 << 20
MAX_ITEMS = 10000


def _parse(text: Any, input_name: str) -> Any:
    if not isinstance(text, str):
        raise NodeInputError(input_name, f"expected the editor's JSON text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise NodeInputError(input_name, f"{len(text)} characters; at most {MAX_TEXT}")
    try:
        value = json.loads(text)
    except ValueError as err:
        raise NodeInputError(input_name, f"not valid JSON ({err.msg} at character {err.pos}): {text[:60]!r}",
                             "add points in the editor again, or clear and re-create the node") from None
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise NodeInputError(input_name, f"expected a list of at most {MAX_ITEMS} items, got {text[:60]!r}")
    return value


def _number(item: Any, key: str, input_name: str) -> float:
    value = item.get(key) if isinstance(item, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise NodeInputError(input_name, f"expected points {{'x': number, 'y': number}}, got {item!r:.80}")
    return value


def points(text: Any, input_name: str, normalize: bool, width: int, height: int) -> list[dict]:
    """The points rounded to whole pixels (half to even, as Python's ``round``), divided by the
    size when ``normalize``."""
    out = []
    for item in _parse(text, input_name):
        x, y = int(round(_number(item, "x", input_name))), int(round(_number(item, "y", input_name)))
        out.append({"x": x / width, "y": y / height} if normalize else {"x": x, "y": y})
    return out


@executor("PointsEditor")
def points_editor(ctx: ExecContext, points_store: str, coordinates: str, width: int, height: int, bbox_format: str,
                  normalize: bool, neg_coordinates: Any = None, bboxes: Any = None, bg_image: Any = None,
                  **unused: Any) -> tuple:
    """The positive and negative points as JSON ``[{"x", "y"}]`` strings (whole pixels, or
    fractions of ``width`` and ``height`` with ``normalize``), the boxes, a ``[1, height, width]``
    mask of 1 inside every box, and ``bg_image`` cropped to the first box (the whole batch when
    there is no box; zeros of ``height`` x ``width`` without an image).

    As the pack at the versions these workflows were saved with: boxes are saved as
    ``{startX, startY, endX, endY}`` (ends in either order, truncated to integers; those missing
    a value are skipped), given as ``(x1, y1, x2, y2)`` or with ``bbox_format`` xywh as
    ``(x, y, w, h)``; with no usable box the ``bbox`` output is the saved list itself. The pack's
    slips are kept: with xywh the crop still reads the first box as corners, and the empty image
    made without ``bg_image`` takes the last box's size. An empty ``neg_coordinates`` gives the
    JSON string ``""``. No positive point gives ``"[]"`` (the pack raises an error since
    2026-03-30, after these workflows). Signatures before 2024-08-04 (without negative points)
    are refused."""
    if neg_coordinates is None or bboxes is None:
        raise NodeInputError("coordinates", "this workflow was saved with PointsEditor from before 2024-08-04 "
                             "(no negative points), whose outputs wfrun does not make",
                             "re-create the node with a current KJNodes")
    width, height = int(width), int(height)
    positive = points(coordinates, "coordinates", normalize, width, height)
    negative = points(neg_coordinates, "neg_coordinates", normalize, width, height) if neg_coordinates \
        else neg_coordinates
    mask = np.zeros((height, width), dtype=np.uint8)
    boxes_out: Any = _parse(bboxes, "bboxes")
    valid: list[tuple[int, int, int, int]] = []
    for item in list(boxes_out):
        if not isinstance(item, dict):
            raise NodeInputError("bboxes", f"expected boxes {{startX, startY, endX, endY}}, got {item!r:.80}")
        ends = [item.get(k) for k in ("startX", "startY", "endX", "endY")]
        if any(v is None for v in ends):
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in ends):
            raise NodeInputError("bboxes", f"expected numbers in the box, got {item!r:.80}")
        sx, sy, ex, ey = (int(v) for v in ends)
        valid.append((min(sx, ex), min(sy, ey), max(sx, ex), max(sy, ey)))
        for x1, y1, x2, y2 in valid:
            mask[y1:y2, x1:x2] = 1
        if bbox_format == "xywh":
            boxes_out = [(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in valid]
            width, height = valid[-1][2] - valid[-1][0], valid[-1][3] - valid[-1][1]  # the pack reuses the names
        else:
            boxes_out = list(valid)
    mask_tensor = torch.from_numpy(mask).unsqueeze(0).float()
    if bg_image is not None and not isinstance(bg_image, torch.Tensor):
        raise NodeInputError("bg_image", f"expected an IMAGE, got {type(bg_image).__name__}")
    if bg_image is not None and valid:
        x1, y1, x2, y2 = boxes_out[0]
        cropped = bg_image[:, y1:y2, x1:x2, :]
    elif bg_image is not None:
        cropped = bg_image
    else:
        cropped = torch.zeros(1, max(height, 0), max(width, 0), 3, dtype=torch.float32)
    return json.dumps(positive), json.dumps(negative), boxes_out, mask_tensor, cropped
