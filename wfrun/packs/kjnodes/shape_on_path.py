"""``CreateShapeImageOnPath`` of KJNodes (``nodes/curve_nodes.py``, 2025-04 to 2026): a frame
per point of the given coordinates (SplineEditor's ``coord_str``, or a list of such texts from
AppendStringsToList), each with a shape drawn at that point of every track.

As the pack: the frame count is the first track's length (every track needs that many
points); a shape is ``shape_width`` x ``shape_height`` times that frame's ``size_multiplier``
(used only when it has one value per frame, else 1), its box ``centre ± size // 2`` (floor
division, floats kept), drawn with PIL on a ``bg_color`` frame, with a ``border_width``
outline when above 0; the frame is blurred by ``blur_radius`` (Gaussian) when not 0; with
``trailing`` other than 1 the previous frame (before ``intensity``) times ``trailing`` is
added and the sum divided by its maximum; then multiplied by ``intensity``. The mask is the
red channel. Colours are PIL colour names or ``#rrggbb``, or since 2025-07-21
``"r, g, b"`` integers. wfrun leaves a frame that is black everywhere black where the
pack's division by its zero maximum gives NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageColor, ImageDraw, ImageFilter

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.tracks import parse_tracks

MAX_FRAMES = 10_000
MAX_PIXELS = 1 << 26


def _color(value: Any, name: str) -> Any:
    text = str(value)
    try:
        if "," in text:
            parts = tuple(int(c.strip()) for c in text.split(","))
            if len(parts) not in (3, 4) or not all(0 <= c <= 255 for c in parts):
                raise ValueError(text)
            return parts
        return ImageColor.getrgb(text)
    except ValueError:
        raise NodeInputError(name, f"unknown colour {text!r}", 'use a name ("red"), "#ff0000" or "255, 0, 0"') from None


def _multipliers(size_multiplier: Any, frames: int) -> list[float]:
    values = size_multiplier if isinstance(size_multiplier, (list, tuple)) else \
        ([] if size_multiplier is None else [size_multiplier])
    if len(values) != frames:
        return [1.0] * frames
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise NodeInputError("size_multiplier", "expected a list of numbers") from None


@executor("CreateShapeImageOnPath")
def create_shape_image_on_path(ctx: ExecContext, shape: str, coordinates: Any, frame_width: int, frame_height: int,
                               shape_width: int, shape_height: int, shape_color: str, bg_color: str,
                               blur_radius: float, intensity: float, trailing: float, border_width: int,
                               border_color: str, size_multiplier: Any = None, **_: Any) -> tuple:
    """IMAGE ``[frames, frame_height, frame_width, 3]`` and its red channel as MASK."""
    tracks = parse_tracks(coordinates, "coordinates")
    if not tracks or not tracks[0]:
        raise NodeInputError("coordinates", "no coordinates given", "connect a SplineEditor's coord_str")
    frames = len(tracks[0])
    if frames > MAX_FRAMES:
        raise NodeInputError("coordinates", f"{frames} points; at most {MAX_FRAMES} frames")
    if any(len(t) < frames for t in tracks):
        raise NodeInputError("coordinates", f"tracks of {sorted({len(t) for t in tracks})} points: each needs the "
                             f"first track's {frames}")
    w, h = int(frame_width), int(frame_height)
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise NodeInputError("frame_width", f"frames of {w}x{h}", "use a size from 1x1 to 8192x8192")
    if shape not in ("circle", "square", "triangle"):
        raise NodeInputError("shape", f"unknown shape {shape!r}", "use circle, square or triangle")
    fill, background = _color(shape_color, "shape_color"), _color(bg_color, "bg_color")
    outline = _color(border_color, "border_color")
    border = int(border_width)
    sizes = _multipliers(size_multiplier, frames)
    images, previous = [], None
    for i in range(frames):
        image = Image.new("RGB", (w, h), background)
        draw = ImageDraw.Draw(image)
        cw, ch = shape_width * sizes[i], shape_height * sizes[i]
        for track in tracks:
            x, y = track[i]
            if shape == "triangle":
                corners = [(x, y - ch // 2), (x - cw // 2, y + ch // 2), (x + cw // 2, y + ch // 2)]
                draw.polygon(corners, fill=fill, **({"outline": outline, "width": border} if border > 0 else {}))
                continue
            box = [(x - cw // 2, y - ch // 2), (x + cw // 2, y + ch // 2)]
            paint = draw.ellipse if shape == "circle" else draw.rectangle
            paint(box, fill=fill, **({"outline": outline, "width": border} if border > 0 else {}))
        if blur_radius != 0:
            image = image.filter(ImageFilter.GaussianBlur(float(blur_radius)))
        frame = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
        if trailing != 1.0 and previous is not None:
            frame = frame + float(trailing) * previous
            peak = frame.max()
            frame = frame / peak if peak > 0 else frame
        previous = frame
        images.append(frame * float(intensity))
    out = torch.stack(images)
    return out, out[..., 0].clone()
