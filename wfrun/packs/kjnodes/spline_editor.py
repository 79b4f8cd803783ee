"""``SplineEditor`` of KJNodes (``nodes/curve_nodes.py``): a canvas where the user draws one or
more splines; the browser samples them and saves the samples in the ``coordinates`` widget
(the control points go in ``points_store``). The node's Python side only reads those samples:

- ``coordinates``: JSON ``[{"x", "y"}, ...]`` (one spline) or, since 2025-06-03, a list of
  such lists (several splines). Every point is rounded to whole pixels (half to even, as
  Python's ``round``).
- ``normalized_str`` and ``float``: per point ``(1 - v / mask_height)`` scaled to
  ``min_value``..``max_value``, for x and for y (the pack divides x by the height too); the
  float output is the y values of all splines, repeated ``repeat_output`` times, as a list
  or a tensor ("pandas series" is refused: wfrun has no pandas).
- ``mask``: one ``mask_height`` x ``mask_width`` frame per value, filled with it, repeated.
- ``coord_str``: the rounded points as JSON — since 2025-06-04 a single spline without its
  outer list (and, as the pack, a flat list of one point as that point alone); wfrun does
  so for nodes saved with the signature of 2025-06-09 or later.
- ``count``: the number of floats (all splines, repeats included, the pack to 2025-12-08);
  from 2025-12-09 the first spline's points, and the masks from the last spline's values
  only (from 2026-05-04 one ``min_value`` mask when that spline is empty). The node's
  signature of 2025-06-09 spans both rules; wfrun applies the later ones to nodes saved with
  the signature of 2026-03-30 or later.

Where ``coordinates`` is empty but ``points_store`` holds control points (a prompt written by
hand), wfrun samples them itself the way the editor does for straight lines
(``interpolation`` linear): ``path`` spaces ``points_to_sample`` points evenly along the
polyline, ``time`` takes them at evenly spaced x from 0 to ``mask_width`` (the editor
searches the drawn path to within a pixel; wfrun takes the exact crossing),
``controlpoints`` the points themselves, and a spline of one point repeats it. Curved
interpolations are drawn by the browser's graphics library and are refused.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_TEXT = 8 << 20
MAX_POINTS = 100_000
MAX_MASK_VALUES = 100_000
#: KJNodes returned the first spline's length as ``count`` from this day (557edba).
FIRST_SPLINE_COUNT_SINCE = "2025-12-09"
#: The first signature of SplineEditor with several splines (coord_str of one spline unwrapped).
MULTI_SPLINE_SIGNATURE = "2025-06-09"
#: The first signature of SplineEditor after the first-spline count.
LATER_SIGNATURE = "2026-03-30"


def _load(text: Any, name: str) -> Any:
    if not isinstance(text, str):
        raise NodeInputError(name, f"expected the editor's JSON text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise NodeInputError(name, f"{len(text)} characters; at most {MAX_TEXT}")
    if not text.strip():
        return []
    try:
        return json.loads(text)
    except ValueError as err:
        raise NodeInputError(name, f"not valid JSON ({err}): {text[:60]!r}",
                             "open the editor and draw the spline again") from None


def _number(value: Any, name: str, point: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NodeInputError(name, f"expected points {{'x': number, 'y': number}}, got {json.dumps(point)[:80]}")
    return float(value)


def _points(items: Any, name: str) -> list[dict]:
    if not isinstance(items, list) or len(items) > MAX_POINTS:
        raise NodeInputError(name, f"expected a list of at most {MAX_POINTS} points, got {json.dumps(items)[:80]}")
    out = []
    for p in items:
        if not isinstance(p, dict):
            raise NodeInputError(name, f"expected points {{'x': number, 'y': number}}, got {json.dumps(p)[:80]}")
        out.append({"x": _number(p.get("x"), name, p), "y": _number(p.get("y"), name, p)})
    return out


def splines_of(value: Any, name: str) -> tuple[list[list[dict]], bool]:
    """The splines of a coordinates value and whether it was nested (several splines)."""
    if not isinstance(value, list):
        raise NodeInputError(name, f"expected a JSON list of points or of splines, got {type(value).__name__}")
    nested = bool(value) and isinstance(value[0], list)
    return ([_points(s, name) for s in value] if nested else [_points(value, name)]), nested


def _stored_splines(points_store: Any) -> list[list[dict]]:
    """The control points of ``points_store``: one list of points, or since 2025-06 a list of
    ``{"points": [...], "color", "name"}`` splines."""
    value = _load(points_store, "points_store") if points_store is not None else []
    if not isinstance(value, list):
        raise NodeInputError("points_store", f"expected a JSON list, got {type(value).__name__}")
    if value and isinstance(value[0], dict) and "points" in value[0]:
        return [_points(s.get("points") if isinstance(s, dict) else None, "points_store") for s in value]
    return [_points(value, "points_store")] if value else []


def sample_polyline(points: list[dict], count: int, method: str, width: float) -> list[dict]:
    """``count`` points of the straight-line spline through ``points`` (see the module docs)."""
    if len(points) == 1:
        return [dict(points[0]) for _ in range(count)]
    if method == "controlpoints":
        return [dict(p) for p in points]
    xy = np.array([[p["x"], p["y"]] for p in points], dtype=np.float64)
    if method == "path":
        seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        targets = np.linspace(0.0, cum[-1], count) if count > 1 else np.zeros(1)
        out = []
        for d in targets:
            i = min(int(np.searchsorted(cum, d, side="right")) - 1, len(seg) - 1)
            f = 0.0 if seg[i] == 0 else (d - cum[i]) / seg[i]
            x, y = xy[i] + f * (xy[i + 1] - xy[i])
            out.append({"x": float(x), "y": float(y)})
        return out
    if method == "time":
        out = []
        for k in range(count):
            tx = width / (count - 1) * k if count > 1 else 0.0
            out.append(_at_x(xy, tx))
        return out
    raise NodeInputError("sampling_method", f"sampling_method {method!r} of an empty coordinates widget",
                         "open the workflow in ComfyUI so the editor saves its samples, or use path, time or "
                         "controlpoints")


def _at_x(xy: np.ndarray, tx: float) -> dict:
    """The first point of the polyline at ``x = tx``, else the end nearest to it in x."""
    for a, b in zip(xy[:-1], xy[1:]):
        lo, hi = min(a[0], b[0]), max(a[0], b[0])
        if lo <= tx <= hi:
            f = 0.0 if b[0] == a[0] else (tx - a[0]) / (b[0] - a[0])
            p = a + f * (b - a)
            return {"x": float(p[0]), "y": float(p[1])}
    near = xy[int(np.argmin(np.abs(xy[:, 0] - tx)))]
    return {"x": float(near[0]), "y": float(near[1])}


def _resampled(points_store: Any, count: int, method: str, interpolation: str, width: int) -> list:
    splines = _stored_splines(points_store)
    if not splines:
        return []
    if interpolation != "linear" and method != "controlpoints":
        raise NodeInputError("coordinates", f"the coordinates widget is empty and the {interpolation} curve is drawn "
                             "by the editor in the browser", "open the workflow in ComfyUI so the editor saves its "
                             "samples, or use interpolation linear")
    sampled = [sample_polyline(s, count, method, width) for s in splines if s]
    return sampled if len(sampled) > 1 else (sampled[0] if sampled else [])


@executor("SplineEditor")
def spline_editor(ctx: ExecContext, coordinates: Any, mask_width: int, mask_height: int, points_to_sample: int,
                  sampling_method: str, interpolation: str, repeat_output: int, float_output_type: str,
                  min_value: float, max_value: float, points_store: Any = None, **_: Any) -> tuple:
    """The outputs ``mask``, ``coord_str``, ``float``, ``count``, ``normalized_str`` (see the
    module docs)."""
    width, height, repeat = int(mask_width), int(mask_height), int(repeat_output)
    if width < 1 or height < 1 or repeat < 1:
        raise NodeInputError("mask_width", f"masks of {width}x{height}, repeat_output {repeat}", "use 1 or more")
    value = _load(coordinates, "coordinates")
    if value == []:
        value = _resampled(points_store, int(points_to_sample), str(sampling_method), str(interpolation), width)
    splines, nested = splines_of(value, "coordinates")
    later = ctx.saved_date is not None and str(ctx.saved_date) >= LATER_SIGNATURE
    span = max_value - min_value
    rounded, normalized, all_y, last_y = [], [], [], []
    for spline in splines:
        out, last_y = [], []
        for p in spline:
            x, y = int(round(p["x"])), int(round(p["y"]))
            out.append({"x": x, "y": y})
            ny = (1.0 - y / height) * span + min_value
            normalized.append({"x": (1.0 - x / height) * span + min_value, "y": ny})
            last_y.append(ny)
        rounded.append(out)
        all_y.extend(last_y)
    mask_values = (last_y or [min_value]) if later else all_y
    if not mask_values:
        raise NodeInputError("coordinates", "no points in the spline editor", "draw a spline in the editor")
    if len(mask_values) * repeat > MAX_MASK_VALUES:
        raise NodeInputError("repeat_output", f"{len(mask_values) * repeat} masks", "use fewer points or repeats")
    # each mask is one value everywhere: a broadcast view, not hundreds of full frames
    masks = torch.tensor(mask_values * repeat, dtype=torch.float32).view(-1, 1, 1).expand(-1, height, width)
    floats = all_y * repeat
    if float_output_type == "tensor":
        out_floats: Any = torch.tensor(floats, dtype=torch.float32)
    elif float_output_type == "list":
        out_floats = floats
    else:
        raise NodeInputError("float_output_type", f"float_output_type {float_output_type!r} is not supported by wfrun "
                             "(it needs pandas)", "use list or tensor")
    count = len(rounded[0]) if later else len(floats)
    saved: Any = rounded if nested else rounded[0]
    if ctx.saved_date is None or str(ctx.saved_date) >= MULTI_SPLINE_SIGNATURE:
        saved = saved if len(saved) > 1 else (saved[0] if saved else saved)
    return masks, json.dumps(saved), out_floats, count, json.dumps(normalized)
