"""Sam2Segmentation's prompts, arranged as the pack arranges them.

Points arrive as JSON strings (KJNodes' PointsEditor, Florence2toCoordinates):
``[{"x": 272.2, "y": 200.7}, …]`` in the image's pixels; the pack swaps single quotes for
double ones before parsing. With ``individual_objects`` off, every positive point (label 1)
and then every negative point (label 0) prompt one object. On, each positive point is its own
object; negatives are paired with them in order (at most as many negatives as positives; the
first negative is repeated for positives left without one), one negative per object.

BBOX is a list of ``[x1, y1, x2, y2]`` pixel boxes. The single-image segmentor uses the *last*
box for one object, or every box (one object each) with ``individual_objects``; the video
segmentor uses the first box.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError

#: More points or boxes than anyone clicks; a bigger list is refused (workflows are untrusted).
MAX_POINTS = 4096
MAX_TEXT = 1_000_000


def parse_points(text: Any, input_name: str) -> list[tuple[float, float]]:
    """``[{"x":…, "y":…}, …]`` → ``[(x, y), …]``; anything else is a NodeInputError."""
    if not isinstance(text, str):
        raise NodeInputError(input_name, f"expected a JSON string of points, got {type(text).__name__}",
                             'connect a points editor: [{"x": 10, "y": 20}, …]')
    if len(text) > MAX_TEXT:
        raise NodeInputError(input_name, f"the points text is {len(text)} characters long; at most {MAX_TEXT}")
    try:
        data = json.loads(text.replace("'", '"'))
    except ValueError as err:
        raise NodeInputError(input_name, f"not JSON: {err}", 'points look like [{"x": 10, "y": 20}, …]') from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise NodeInputError(input_name, f"expected a list of points, got {type(data).__name__}",
                             'points look like [{"x": 10, "y": 20}, …]')
    if len(data) > MAX_POINTS:
        raise NodeInputError(input_name, f"{len(data)} points; at most {MAX_POINTS}")
    out = []
    for i, point in enumerate(data):
        try:
            x, y = float(point["x"]), float(point["y"])
        except (TypeError, KeyError, ValueError):
            raise NodeInputError(input_name, f"point {i} is {point!r}, not {{\"x\": number, \"y\": number}}") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise NodeInputError(input_name, f"point {i} is not finite: {point!r}")
        out.append((x, y))
    return out


def parse_boxes(bboxes: Any, input_name: str = "bboxes") -> torch.Tensor:
    """A BBOX list → ``[N, 4]`` float xyxy pixels."""
    if isinstance(bboxes, torch.Tensor):
        bboxes = bboxes.tolist()
    if not isinstance(bboxes, (list, tuple)) or not bboxes:
        raise NodeInputError(input_name, f"expected a non-empty list of [x1, y1, x2, y2] boxes, got {bboxes!r:.80}")
    if len(bboxes) > MAX_POINTS:
        raise NodeInputError(input_name, f"{len(bboxes)} boxes; at most {MAX_POINTS}")
    rows = []
    for i, box in enumerate(bboxes):
        try:
            row = [float(v) for v in box]
        except (TypeError, ValueError):
            row = []
        if len(row) != 4 or not all(math.isfinite(v) for v in row):
            raise NodeInputError(input_name, f"box {i} is {box!r:.80}, not [x1, y1, x2, y2]")
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32)


def point_prompts(positive: list[tuple[float, float]], negative: list[tuple[float, float]] | None,
                  individual: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(coords [objects, n, 2], labels [objects, n])`` as the pack arranges them."""
    if not positive:
        raise NodeInputError("coordinates_positive", "no positive points", "click at least one point on the subject")
    pos = torch.tensor(positive, dtype=torch.float32)
    neg = torch.tensor(negative, dtype=torch.float32).reshape(-1, 2) if negative else None
    if not individual:
        coords = pos if neg is None else torch.cat([pos, neg])
        labels = torch.cat([torch.ones(len(pos)), torch.zeros(0 if neg is None else len(neg))])
        return coords[None], labels[None].to(torch.int32)
    if neg is None:
        return pos[:, None], torch.ones(len(pos), 1, dtype=torch.int32)
    if len(neg) > len(pos):
        raise NodeInputError("coordinates_negative", f"{len(neg)} negative points for {len(pos)} positive ones",
                             "with individual_objects each object takes one positive and at most one negative "
                             "point: give no more negatives than positives")
    neg = torch.cat([neg, neg[:1].expand(len(pos) - len(neg), 2)])
    coords = torch.stack([pos, neg], dim=1)
    labels = torch.tensor([[1, 0]] * len(pos), dtype=torch.int32)
    return coords, labels
