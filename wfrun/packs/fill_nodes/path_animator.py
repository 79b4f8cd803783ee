"""``FL_PathAnimator`` (ComfyUI_Fill-Nodes, nodes/wip/FL_PathAnimator.py, as of 03d005d,
2025-11-03; 1566e13, 2026-04-10, renders the same when its ``image`` input is left empty):
shapes drawn along user-drawn paths, frame by frame, and the paths as point tracks for
Wan's motion-track nodes (WanMove, ATI).

What it makes, from ``paths_data`` (the editor's JSON: ``paths`` of ``points`` ``{x, y}``
drawn on a canvas of ``canvas_size``, scaled to ``frame_width`` x ``frame_height``):

- **image**: ``frame_count`` RGB frames of ``bg_color``; at frame ``f`` (time
  ``g = f / max(frame_count - 1, 1)``) each path's shape sits at the point a fraction of
  its length along it. A path may carry ``startTime``/``endTime`` (0..1), an
  ``interpolation`` easing (``linear``, quadratic ``ease-in``/``ease-out``/``ease-in-out``)
  and a ``visibilityMode``: ``pop`` hides it outside its time span, ``static`` holds it at
  its start before and at its end after. Shapes (Pillow): circle and square ignore
  rotation; triangle, hexagon and star turn by ``rotation_speed * eased time * 360``
  degrees; ``border_width`` outlines in ``border_color``. Then an optional Gaussian blur;
  with ``trail_length`` each frame adds that fraction of the previous (unclamped) frame
  and is divided by its maximum, then clamped to 0..1.
- **mask**: each frame's red channel.
- **coordinates**: JSON, one track per path of 121 points evenly spaced along its length
  (a single point, or a path of no length, repeated), each rounded to whole pixels with
  Python's ``round`` (halves to even); an empty path gives an empty track.

Colours: ``"r, g, b"`` or any name Pillow knows; an unknown name is white, as in the pack.
Invalid JSON in ``paths_data`` means no paths, as in the pack (the frames are then plain
background and the coordinates ``[]``).

Refused: a connected ``image`` (1566e13 on: the pack then stops the run and waits for the
user to draw in the browser); files saved by the pack's first two commits (ce59dd1,
ff5fb88, 2025-11-01), whose coordinates output was not yet the 121-point resampling.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_version

TRACK_POINTS = 121
EARLY_COMMITS = ("ce59dd1", "ff5fb88")
MAX_FRAMES = 4096


def color(value: Any) -> Any:
    from PIL import ImageColor

    if not isinstance(value, str):
        return value
    if "," in value:
        try:
            return tuple(int(part.strip()) for part in value.split(","))
        except ValueError:
            raise NodeInputError("shape_color", f"cannot read the colour {value!r}", "write 'r, g, b' or a colour name") \
                from None
    try:
        return ImageColor.getrgb(value)
    except ValueError:
        return (255, 255, 255)


def ease(t: float, kind: str) -> float:
    if kind == "ease-in":
        return t * t
    if kind == "ease-out":
        return t * (2 - t)
    if kind == "ease-in-out":
        return 2 * t * t if t < 0.5 else -1 + (4 - 2 * t) * t
    return t


def _lengths(points: list[dict]) -> list[float]:
    return [math.sqrt((b["x"] - a["x"]) ** 2 + (b["y"] - a["y"]) ** 2) for a, b in zip(points, points[1:])]


def point_at(points: list[dict], t: float) -> tuple[float, float]:
    """The point a fraction ``t`` of the path's length along it (the animation's rule)."""
    if not points:
        return (0, 0)
    if len(points) == 1:
        return (points[0]["x"], points[0]["y"])
    lengths = _lengths(points)
    total = sum(lengths)
    if total == 0:
        return (points[0]["x"], points[0]["y"])
    target, walked = t * total, 0
    for i, seg in enumerate(lengths):
        if walked + seg >= target:
            u = (target - walked) / seg if seg > 0 else 0
            return (points[i]["x"] + (points[i + 1]["x"] - points[i]["x"]) * u,
                    points[i]["y"] + (points[i + 1]["y"] - points[i]["y"]) * u)
        walked += seg
    return (points[-1]["x"], points[-1]["y"])


def resample(points: list[dict], count: int = TRACK_POINTS) -> list[tuple[float, float]]:
    """``count`` points evenly spaced along the path by arc length (the coordinates' rule)."""
    if not points:
        return []
    if len(points) == 1:
        return [(points[0]["x"], points[0]["y"])] * count
    cumulative = [0.0]
    for seg in _lengths(points):
        cumulative.append(cumulative[-1] + seg)
    total = cumulative[-1]
    if total == 0:
        return [(points[0]["x"], points[0]["y"])] * count
    out = []
    for i in range(count):
        target = 0 if count == 1 else (i / (count - 1)) * total
        for j in range(len(cumulative) - 1):
            if cumulative[j] <= target <= cumulative[j + 1]:
                seg = cumulative[j + 1] - cumulative[j]
                u = (target - cumulative[j]) / seg if seg > 0 else 0
                out.append((points[j]["x"] + u * (points[j + 1]["x"] - points[j]["x"]),
                            points[j]["y"] + u * (points[j + 1]["y"] - points[j]["y"])))
                break
        else:
            out.append((points[-1]["x"], points[-1]["y"]))
    return out


def _turned(points: list[tuple[float, float]], cx: float, cy: float, degrees: float) -> list[tuple[float, float]]:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return [((x - cx) * c - (y - cy) * s + cx, (x - cx) * s + (y - cy) * c + cy) for x, y in points]


def draw_shape(draw: Any, shape: str, cx: float, cy: float, size: float, rotation: float, fill: Any,
               border_width: int, border_color: Any) -> None:
    h = size / 2
    outline = {"outline": border_color, "width": border_width} if border_width > 0 else {}
    if shape == "circle":
        draw.ellipse([cx - h, cy - h, cx + h, cy + h], fill=fill, **outline)
    elif shape == "square":
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill, **outline)
    elif shape == "triangle":
        corners = [(cx, cy - h), (cx - h, cy + h), (cx + h, cy + h)]
        draw.polygon(_turned(corners, cx, cy, rotation) if rotation != 0 else corners, fill=fill, **outline)
    elif shape == "hexagon":
        draw.polygon([(cx + h * math.cos(math.radians(60 * i + rotation)), cy + h * math.sin(math.radians(60 * i + rotation)))
                      for i in range(6)], fill=fill, **outline)
    elif shape == "star":
        corners = []
        for i in range(10):
            angle, r = math.radians(36 * i + rotation), (h if i % 2 == 0 else h * 0.4)
            corners.append((cx + r * math.cos(angle - math.pi / 2), cy + r * math.sin(angle - math.pi / 2)))
        draw.polygon(corners, fill=fill, **outline)


def _paths(paths_data: Any, width: int, height: int) -> list[dict]:
    try:
        data = json.loads(paths_data) if isinstance(paths_data, str) else paths_data
    except json.JSONDecodeError:
        return []  # the pack logs and draws no paths
    if not isinstance(data, dict):
        raise NodeInputError("paths_data", "expected the path editor's JSON object ({\"paths\": [...], ...})")
    paths = data.get("paths", [])
    canvas = data.get("canvas_size", {"width": width, "height": height})
    if not isinstance(paths, list) or not isinstance(canvas, dict):
        raise NodeInputError("paths_data", "'paths' must be a list and 'canvas_size' an object")
    cw, ch = canvas.get("width", width), canvas.get("height", height)
    sx, sy = (width / cw if cw > 0 else 1.0), (height / ch if ch > 0 else 1.0)
    out = []
    for path in paths:
        try:
            points = [{"x": float(p["x"]) * sx, "y": float(p["y"]) * sy} for p in path.get("points", [])]
        except (AttributeError, KeyError, TypeError, ValueError):
            raise NodeInputError("paths_data", "a path's points must be {\"x\": number, \"y\": number}") from None
        out.append({**path, "points": points})
    return out


def _place(path: dict, g: float, rotation_speed: float) -> tuple[float, float, float] | None:
    """Where the path's shape is at time ``g`` and its rotation, or None when hidden."""
    points = path["points"]
    start, end = path.get("startTime", 0.0), path.get("endTime", 1.0)
    mode = path.get("visibilityMode", "pop")
    inside = start <= g <= end
    if mode == "pop" and not inside:
        return None
    if inside and end > start:
        t = ease((g - start) / (end - start), path.get("interpolation", "linear"))
        return (*point_at(points, t), rotation_speed * t * 360.0)
    if mode == "static":
        if g < start:
            return (*point_at(points, 0.0), 0.0)
        return (*point_at(points, 1.0), rotation_speed * 360.0)
    return (*point_at(points, 0.0), 0.0)


@executor("FL_PathAnimator")
def fl_path_animator(ctx: ExecContext, frame_width: int, frame_height: int, frame_count: int, shape: str,
                     shape_size: int, shape_color: str, bg_color: str, blur_radius: float,
                     trail_length: float, rotation_speed: float, border_width: int,
                     border_color: str, paths_data: Any, image: Any = None, **_: Any) -> tuple:
    from PIL import Image, ImageDraw, ImageFilter

    ver = saved_version(ctx.workflow_json, ctx.node_id)
    if ver and any(ver.lower().startswith(c) for c in EARLY_COMMITS):
        raise NodeInputError("paths_data", f"saved by ComfyUI_Fill-Nodes {ver[:7]}, whose coordinates were not yet "
                             "resampled to 121 points; wfrun runs the node from 03d005d (2025-11-03) on",
                             "update the pack and save the workflow again")
    if image is not None:
        raise NodeInputError("image", "with an image connected the node stops the run and waits for paths drawn "
                             "in the browser, which wfrun cannot do", "disconnect image; the saved paths_data is used")
    width, height, frames = int(frame_width), int(frame_height), int(frame_count)
    if width < 1 or height < 1 or not 1 <= frames <= MAX_FRAMES:
        raise NodeInputError("frame_count" if width >= 1 and height >= 1 else "frame_width",
                             f"{width}x{height}, {frames} frames is not a frame size and count the node can draw")
    fill, background, outline = color(shape_color), color(bg_color), color(border_color)
    paths = _paths(paths_data, width, height)
    images, previous = [], None
    for f in range(frames):
        ctx.check_interrupt()
        canvas = Image.new("RGB", (width, height), background)
        draw = ImageDraw.Draw(canvas)
        g = f / max(frames - 1, 1)
        for path in paths:
            if not path["points"]:
                continue
            placed = _place(path, g, float(rotation_speed))
            if placed is not None:
                draw_shape(draw, shape, placed[0], placed[1], shape_size, placed[2], fill, int(border_width), outline)
        if blur_radius > 0:
            canvas = canvas.filter(ImageFilter.GaussianBlur(blur_radius))
        frame = torch.from_numpy(np.array(canvas).astype(np.float32) / 255.0).unsqueeze(0)
        if trail_length > 0 and previous is not None:
            frame = frame + trail_length * previous
            frame = frame / frame.max()
        previous = frame.clone()
        images.append(torch.clamp(frame, 0.0, 1.0))
    out = torch.cat(images, dim=0)
    tracks = [[{"x": int(round(x)), "y": int(round(y))} for x, y in resample(path["points"])] for path in paths]
    return (out, out[..., 0].clone(), json.dumps(tracks))
