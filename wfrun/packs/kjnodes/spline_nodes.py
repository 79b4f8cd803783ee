"""KJNodes' SplineEditor and CreateShapeImageOnPath (``nodes/curve_nodes.py``): the Wan ATI
example workflows draw their motion tracks with them.

SplineEditor's curve is drawn and sampled in the browser; the frontend saves the sampled
points as the JSON text of ``coordinates`` (a list of ``{"x", "y"}`` points, or since
2025-06-03 a list of such lists, one per spline), and the Python node only reads it:

* ``coord_str``: the points with ``x`` and ``y`` rounded to whole pixels (Python's
  ``round``), as JSON — a list of splines, or the one spline's list (since 2025-06-04;
  a flat list of a single point gives that point alone, as the pack's ``coordinates[0]``);
* ``float``: for every point, ``(1 - y / mask_height) (max - min) + min``, repeated
  ``repeat_output`` times, as a Python list or a tensor (``float_output_type``; the
  "pandas series" output needs pandas, which wfrun does not ship: refused by name);
* ``mask``: one frame per value, filled with it (the mean of three equal channels, in
  float32, as the pack computes it), repeated ``repeat_output`` times;
* ``count`` and ``normalized_str`` (the points' normalised ``x`` — divided by
  ``mask_height``, the pack's own quirk — and ``y``, as JSON).

The pack changed two outputs later: since 2025-12-09 ``count`` is the first spline's point
count (before: the length of ``float``), and by 2026-05-04 the mask holds the last
spline's values only (``min_value`` for none). wfrun gives the later rule to workflows
saved with the 2026-03-30 signature (or as API prompts), the earlier to older ones;
files saved between 2025-12-09 and 2026-03-30 carry the 2025-06-09 signature and get the
earlier rule. ``points_store``, ``points_to_sample``, ``sampling_method``,
``interpolation`` and ``tension`` drive only the browser's sampling, and ``bg_image``
only its preview: none changes an output.

CreateShapeImageOnPath draws one frame per point of the first track (Pillow, as the pack):
every track's shape (circle, square or triangle of ``shape_width`` × ``shape_height``
times the frame's ``size_multiplier`` — used only when it has one value per frame) centred
on its point, optional outline, Gaussian blur; with ``trailing`` other than 1 each frame
adds ``trailing`` × the previous frame and is divided by its maximum (where that maximum is
0 — nothing drawn on black — wfrun keeps the black frame; the pack's division gives NaN);
then ``intensity`` scales it, and the mask is its red channel. Colours are Pillow's names,
``#rrggbb`` or ``"r, g, b"``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Characters of coordinate JSON read (a workflow is untrusted input).
MAX_JSON = 20_000_000
#: Values a SplineEditor mask or a CreateShapeImageOnPath batch may hold.
MAX_VALUES = 2**31
#: The SplineEditor signature from which the later ``count`` and mask rules apply.
LATER_RULES = "2026-03-30"


def _json(text: Any, name: str) -> Any:
    if not isinstance(text, str):
        raise NodeInputError(name, f"{name}: expected the JSON text of the points, found {type(text).__name__}")
    if len(text) > MAX_JSON:
        raise NodeInputError(name, f"{name} has {len(text):,} characters; wfrun reads at most {MAX_JSON:,}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise NodeInputError(name, f"{name} is not valid JSON: {text[:60]!r}",
                             "draw the spline again in ComfyUI and save the workflow") from None


def _point(coord: Any, name: str) -> dict:
    if not isinstance(coord, dict) or not all(isinstance(coord.get(k), (int, float)) and not isinstance(
            coord.get(k), bool) for k in ("x", "y")):
        raise NodeInputError(name, f"{name}: expected points like {{\"x\": 10, \"y\": 20}}, found {str(coord)[:60]}")
    return coord


@executor("SplineEditor")
def spline_editor(ctx: ExecContext, coordinates: Any, mask_width: Any, mask_height: Any, float_output_type: Any,
                  repeat_output: Any, min_value: Any, max_value: Any, **_: Any) -> tuple:
    points = _json(coordinates, "coordinates")
    if not isinstance(points, list) or not points:
        raise NodeInputError("coordinates", "coordinates holds no points", "draw a spline in ComfyUI")
    splines = points if isinstance(points[0], list) else [points]
    width, height, repeat = int(mask_width), int(mask_height), int(repeat_output)
    if width < 1 or height < 1 or repeat < 1:
        raise NodeInputError("mask_height", f"mask {width}x{height} repeated {repeat} times: expected at least 1 each")
    low, high = float(min_value), float(max_value)
    normalized, values, last = [], [], []
    for spline in splines:
        if not isinstance(spline, list):
            raise NodeInputError("coordinates", "coordinates mixes splines and single points")
        last = []
        for coord in spline:
            coord = _point(coord, "coordinates")
            coord["x"], coord["y"] = int(round(coord["x"])), int(round(coord["y"]))
            norm_x = (1.0 - coord["x"] / height) * (high - low) + low
            norm_y = (1.0 - coord["y"] / height) * (high - low) + low
            normalized.append({"x": norm_x, "y": norm_y})
            last.append(norm_y)
        values.extend(last)
    later = ctx.saved_date is None or ctx.saved_date >= LATER_RULES
    mask_values = (last or [low]) if later else values
    if len(mask_values) * repeat * width * height > MAX_VALUES:
        raise NodeInputError("repeat_output", f"the mask would hold {len(mask_values) * repeat} frames of "
                             f"{width}x{height}", "lower repeat_output or the mask size")
    if not mask_values:
        raise NodeInputError("coordinates", "coordinates holds no points", "draw a spline in ComfyUI")
    floats: Any = values * repeat
    kind = float_output_type
    if kind == "tensor":
        floats = torch.tensor(floats, dtype=torch.float32)
    elif kind != "list":
        raise NodeInputError("float_output_type", f"float_output_type {kind!r} is not supported by wfrun "
                             "(the pandas series needs pandas)", "use list or tensor")
    # the pack fills three channels with the value and takes their mean
    levels = torch.tensor(mask_values, dtype=torch.float32)[:, None].expand(-1, 3).mean(dim=-1)
    mask = levels[:, None, None].expand(-1, height, width).repeat(repeat, 1, 1)
    count = len(splines[0]) if later else len(floats)
    coord_str = json.dumps(points if len(points) > 1 else points[0])
    return (mask, coord_str, floats, count, json.dumps(normalized))


def parse_tracks(coordinates: Any) -> list[list[dict]]:
    """The pack's ``parse_json_tracks``: a JSON string (single quotes read as double) of one
    track or a list of tracks, or a list of such strings, one track each."""
    texts = [coordinates] if isinstance(coordinates, str) else coordinates
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise NodeInputError("coordinates", f"coordinates: expected the JSON text of points (or a list of them), found "
                             f"{type(coordinates).__name__}")
    tracks: list = []
    for text in texts:
        parsed = _json(text.replace("'", '"'), "coordinates")
        if isinstance(coordinates, str):
            tracks.extend(parsed if isinstance(parsed, list) else [parsed])
        else:
            tracks.append(parsed)
    if tracks and isinstance(tracks[0], dict):
        tracks = [tracks]
    if not tracks or not all(isinstance(t, list) and t for t in tracks):
        raise NodeInputError("coordinates", "coordinates holds no track of points", "connect SplineEditor's coord_str")
    return [[_point(p, "coordinates") for p in track] for track in tracks]


def _color(value: Any, name: str) -> Any:
    """A Pillow colour: ``"r, g, b"`` as integers, else the text (a name or ``#rrggbb``)."""
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a colour name or 'r, g, b', found {type(value).__name__}")
    try:
        color = tuple(int(c.strip()) for c in value.split(",")) if "," in value else value
        Image.new("RGB", (1, 1), color)
    except (ValueError, TypeError):
        raise NodeInputError(name, f"{name} {value!r} is not a colour", "use a name (white), #rrggbb or 'r, g, b'") \
            from None
    return color


@executor("CreateShapeImageOnPath")
def create_shape_image_on_path(ctx: ExecContext, shape: Any, coordinates: Any, frame_width: Any, frame_height: Any,
                               shape_width: Any, shape_height: Any, shape_color: Any, bg_color: Any,
                               blur_radius: Any, intensity: Any, trailing: Any, border_width: Any, border_color: Any,
                               size_multiplier: Any = None, **_: Any) -> tuple:
    if shape not in ("circle", "square", "triangle"):
        raise NodeInputError("shape", f"shape is {shape!r}; expected circle, square or triangle")
    tracks = parse_tracks(coordinates)
    fill, outline, background = (_color(shape_color, "shape_color"), _color(border_color, "border_color"),
                                 _color(bg_color, "bg_color"))
    width, height = int(frame_width), int(frame_height)
    frames = len(tracks[0])
    if any(len(track) < frames for track in tracks):
        raise NodeInputError("coordinates", f"the tracks have {[len(t) for t in tracks]} points; every track needs "
                             f"as many as the first ({frames})")
    if frames * width * height * 3 > MAX_VALUES or width < 1 or height < 1:
        raise NodeInputError("frame_width", f"{frames} frames of {width}x{height} is more than wfrun draws")
    multipliers = size_multiplier if isinstance(size_multiplier, (list, tuple)) else \
        [size_multiplier] if isinstance(size_multiplier, (int, float)) else []
    if len(multipliers) != frames:  # the pack uses them only with one per frame
        multipliers = [1] * frames
    border = int(border_width)
    images, previous = [], None
    for i in range(frames):
        image = Image.new("RGB", (width, height), background)
        draw = ImageDraw.Draw(image)
        half_w, half_h = shape_width * multipliers[i] // 2, shape_height * multipliers[i] // 2
        for track in tracks:
            x, y = track[i]["x"], track[i]["y"]
            style = {"fill": fill, **({"outline": outline, "width": border} if border > 0 else {})}
            if shape == "triangle":
                draw.polygon([(x, y - half_h), (x - half_w, y + half_h), (x + half_w, y + half_h)], **style)
            elif shape == "circle":
                draw.ellipse([(x - half_w, y - half_h), (x + half_w, y + half_h)], **style)
            else:
                draw.rectangle([(x - half_w, y - half_h), (x + half_w, y + half_h)], **style)
        if blur_radius != 0:
            image = image.filter(ImageFilter.GaussianBlur(blur_radius))
        frame = torch.from_numpy(np.asarray(image).astype(np.float32) / 255.0)
        if trailing != 1.0 and previous is not None:
            frame = frame + trailing * previous
            peak = frame.max()
            frame = frame / peak if peak != 0 else frame
        previous = frame
        images.append(frame * intensity)
    batch = torch.stack(images).float()
    return (batch, batch[..., 0].clone())
