"""The wrapper's ATI nodes (``ATI/nodes.py``, 2025-05-31 to 2025-07): motion tracks for
ByteDance's ATI image-to-video model.

- ``WanVideoATITracks`` reads the tracks (:mod:`wfrun.nodes.tracks`) and attaches them to the
  model with the frame size, ``temperature``, ``topk`` and the step window; WanVideoSampler
  then gives the model the motion-patched image conditioning inside that window
  (:mod:`wfrun.sampling.loop`). The pack turns the 121 points (24 fps) into 81 frames here
  and its sampler fails on other lengths; wfrun resamples them in the sampler to the video's
  frames (ComfyUI's rule, the pack's for 81: :class:`~wfrun.sampling.tracks.AtiTracks`). The
  first signature (2025-05-31, before ``temperature``…) runs with the later defaults, which
  are the values it had fixed. The pack's sampler of 2025-05-31 (commit 8bc74da) read the
  window under other names than the node wrote, so it always used 0 to 1; wfrun uses the
  node's window (the pack's fix).
- ``WanVideoATITracksVisualize`` draws every track on the images: at each of 81 frames
  (track point ``⌊3j/2⌋``, the 24 fps points taken at 16 fps) a filled dot for the point of
  each earlier frame back to ``max_retain`` frames, old to new, its radius from
  ``min_radius`` to ``max_radius`` and its colour from blue through green and yellow to red
  with its age ratio ``1 - age/max_retain``. The images are repeated to 81 frames when
  fewer, cut when more. As in the pack, the colours are written as 0-255 values into the
  0-1 image (saving clips them: every channel above 0 shows at full strength). The dots
  cover the pixels within the radius of the centre (``dx² + dy² ≤ r²``); the pack draws with
  OpenCV, whose circle outline can differ by a pixel at the rim. ``max_retain`` 0 is refused
  (the pack divides by it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.tracks import parse_tracks
from wfrun.packs.wanvideo.types import WanVideoModel
from wfrun.sampling.tracks import AtiTracks, pad_track_points

#: Frames ATI's tracks are made for (121 points at 24 fps).
ATI_FRAMES = 81


def _tracks(tracks: Any) -> list:
    data = parse_tracks(tracks, "tracks")
    if not data:
        raise NodeInputError("tracks", "no tracks given", "connect a SplineEditor's coord_str, or give "
                             'JSON [{"x": .., "y": ..}, ...]')
    return data


@executor("WanVideoATITracks")
def wanvideo_ati_tracks(ctx: ExecContext, model: Any, tracks: Any, width: int, height: int, temperature: float,
                        topk: int, start_percent: float, end_percent: float, **_: Any) -> tuple:
    if not isinstance(model, WanVideoModel):
        raise NodeInputError("model", f"expected a WANVIDEOMODEL from WanVideoModelLoader, got {type(model).__name__}")
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise NodeInputError("width", f"a frame of {width}x{height}", "give the video's width and height")
    if int(topk) < 1:
        raise NodeInputError("topk", f"topk = {topk}", "use 1 or more")
    ati = AtiTracks(pad_track_points(_tracks(tracks)), width, height, float(temperature), int(topk),
                    float(start_percent), float(end_percent))
    return (dataclasses.replace(model, ati=ati),)


def age_color(ratio: float) -> tuple[int, int, int]:
    """(r, g, b) 0-255 for an age ratio: 0 blue, 1/3 green, 2/3 yellow, 1 red, linear between
    (each channel truncated to an integer, as the pack)."""
    if ratio <= 1 / 3:
        t = ratio / (1 / 3)
        return 0, int(255 * t), int(255 * (1 - t))
    if ratio <= 2 / 3:
        t = (ratio - 1 / 3) / (1 / 3)
        return int(255 * t), 255, 0
    t = (ratio - 2 / 3) / (1 / 3)
    return 255, int(255 * (1 - t)), 0


def _dot(frame: np.ndarray, x: int, y: int, radius: int, color: tuple[int, int, int]) -> None:
    h, w = frame.shape[:2]
    y0, y1, x0, x1 = max(y - radius, 0), min(y + radius + 1, h), max(x - radius, 0), min(x + radius + 1, w)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    inside = (yy - y) ** 2 + (xx - x) ** 2 <= radius * radius
    frame[y0:y1, x0:x1][inside] = color


def paint_tracks(frames: np.ndarray, points: np.ndarray, visible: np.ndarray, min_radius: int, max_radius: int,
                 max_retain: int) -> np.ndarray:
    """``frames`` ``[F, H, W, 3]`` with the dots of ``points`` ``[N, F, 2]`` (pixels) where
    ``visible`` ``[N, F]`` (see the module docs)."""
    n, count = points.shape[:2]
    h, w = frames.shape[1:3]
    out = frames.copy()
    for t in range(count):
        frame = out[t]
        for i in range(n):
            for tau in range(max(0, t - max_retain), t + 1):
                if not visible[i, tau]:
                    continue
                x, y = points[i, tau] + 0.5
                xi, yi = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
                ratio = 1 - float(t - tau) / max_retain if count > 1 else 1.0
                radius = int(round(min_radius + (max_radius - min_radius) * ratio))
                _dot(frame, xi, yi, radius, age_color(ratio))
    return out


@executor("WanVideoATITracksVisualize")
def wanvideo_ati_tracks_visualize(ctx: ExecContext, images: Any, tracks: Any, min_radius: int, max_radius: int,
                                  max_retain: int, **_: Any) -> tuple:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise NodeInputError("images", f"expected an IMAGE batch, got {type(images).__name__}")
    if int(max_retain) < 1:
        raise NodeInputError("max_retain", f"max_retain = {max_retain}", "use 1 or more (the pack divides by it)")
    if int(min_radius) < 0 or int(max_radius) < 0:
        raise NodeInputError("min_radius", f"radii {min_radius} and {max_radius}", "use 0 or more")
    padded = pad_track_points(_tracks(tracks))  # [N, 121, 3]
    rows = [(3 * j) // 2 for j in range(ATI_FRAMES)]
    points, visible = padded[:, rows, :2], padded[:, rows, 2]
    count = len(rows)
    if images.shape[0] < count:
        images = images.repeat(-(-count // images.shape[0]), 1, 1, 1)
    images = images[:count]
    drawn = paint_tracks(images.detach().cpu().float().numpy(), points, visible, int(min_radius), int(max_radius),
                         int(max_retain))
    return (torch.from_numpy(drawn).float(),)
