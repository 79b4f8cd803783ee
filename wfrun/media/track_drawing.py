"""Motion tracks drawn over video frames as Wan-Move's visualiser draws them (its
``draw_tracks_on_video``, which the wrapper's WanVideoWanDrawWanMoveTracks calls):

- Each frame gets, for every track visible on it, a filled disc of radius ``circle_size``
  at the track's point (coordinates truncated to integers) in the track's colour (five
  colours in turn) with alpha ``int(255·opacity)``; the discs are painted onto one clear
  layer (a later disc replaces an earlier one's pixels) which is then blended over the frame.
- Then a tail for every such track with at least two points among its last
  ``track_frame + 1`` (this frame and the ones before): walked from the newest point back,
  one pixel-long dab per unit of path length, each dab a line from ``(x, y)`` to
  ``(x + 1, y)`` whose alpha ``int(255·(1 - r)·opacity)`` and width ``max(int(line_width·(1 -
  r)), 1)`` fall with the share ``r`` of the tail's length walked. Dabs are alpha-composited
  onto a second clear layer (PIL's RGBA drawing), which is blended over the frame.
- Blending is ``layer·a + frame·(1 - a)`` in float, truncated to 8 bits.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

#: Wan-Move's track colours, used in turn.
TRACK_COLORS = ((102, 153, 255), (0, 255, 255), (255, 255, 0), (255, 102, 204), (0, 255, 0))


def _blend(frame: np.ndarray, layer: Image.Image) -> np.ndarray:
    rgba = np.asarray(layer, dtype=np.float64)
    alpha = rgba[:, :, 3:4] / 255.0
    return rgba[:, :, :3] * alpha + frame * (1 - alpha)


def _tail(layer: Image.Image, points: np.ndarray, color: tuple[int, int, int], line_width: int,
          opacity: float) -> None:
    draw = ImageDraw.Draw(layer, "RGBA")
    points = points[::-1].astype(np.float64)
    lengths = np.sqrt(((points[1:] - points[:-1]) ** 2).sum(-1))
    total = float(lengths.sum())
    if total == 0:
        return
    walked = 0.0
    for (x0, y0), (x1, y1), seg in zip(points[:-1], points[1:], lengths):
        dabs = max(int(seg), 1)
        for i in range(dabs):
            ratio = (walked + (i / dabs) * seg) / total
            alpha = int(255 * (1 - ratio) * opacity)
            x = int(x0 + (x1 - x0) * i / dabs)
            y = int(y0 + (y1 - y0) * i / dabs)
            width = max(int(line_width * (1 - ratio)), 1)
            draw.line([(x, y), (x + 1, y)], fill=(*color, alpha), width=width)
        walked += float(seg)


def draw_tracks(frames: np.ndarray, tracks: np.ndarray, visibility: np.ndarray | None, track_frame: int = 24,
                circle_size: int = 12, opacity: float = 0.5, line_width: int = 16) -> np.ndarray:
    """``frames`` ``[F, H, W, 3]`` uint8, ``tracks`` ``[≥F, N, 2]`` pixels, ``visibility``
    ``[≥F, N]`` (or None: all visible) → the frames with the tracks drawn, uint8."""
    num_frames, height, width = frames.shape[:3]
    points = tracks.astype(np.int64)
    fill_alpha = int(255 * opacity)
    out = np.empty_like(frames)
    for t in range(num_frames):
        frame = frames[t].astype(np.float32)
        discs = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(discs)
        tails = []
        for n in range(points.shape[1]):
            if visibility is not None and not visibility[t, n]:
                continue
            x, y = (int(v) for v in points[t, n])
            color = TRACK_COLORS[n % len(TRACK_COLORS)]
            draw.ellipse((x - circle_size, y - circle_size, x + circle_size, y + circle_size),
                         fill=color + (fill_alpha,))
            recent = points[max(t - int(track_frame), 0):t + 1, n]
            if len(recent) > 1:
                tails.append((recent, color))
        result = _blend(frame, discs)
        if tails:
            layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
            for recent, color in tails:
                _tail(layer, recent, color, int(line_width), float(opacity))
            result = _blend(result, layer)
        out[t] = result.astype(np.uint8)
    return out
