"""The OpenPose drawing of the ControlNet annotators (comfyui_controlnet_aux ``dwpose/util.py``),
on a black ``uint8`` RGB canvas with ``raster``'s OpenCV primitives:

- body: 17 limbs, each an ellipse along the limb (half its length by 4 pixels, times the xinsir
  stick scale) filled at 60% of the limb's colour, then a disc of radius 4 per point in the
  18 OpenPose colours;
- hands: 20 bones as lines 2 pixels thick coloured round the hue circle, then a disc of radius
  4 per point in (0, 0, 255); points and bones touching column or row 0 are skipped;
- face: a white disc of radius 3 per point, with the same rule.

Points are in canvas pixels; when every point of a part lies within [-1, 1] the part is read as
normalised and scaled by the canvas size, as the pack does.
"""

from __future__ import annotations

import colorsys
import math
from typing import Optional, Sequence

import numpy as np

from wfrun.models.pose.raster import circle, ellipse_polygon, fill_convex_poly, thick_line
from wfrun.models.pose.wholebody import Person

EPS = 0.01
STICK_WIDTH = 4
LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13), (13, 14),
         (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
          (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
          (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))
HAND_POINT = (0, 0, 255)
FACE_POINT = (255, 255, 255)


def _normalised(points: Sequence) -> bool:
    present = [p for p in points if p is not None]
    return bool(present) and all(abs(p.x) <= 1 and abs(p.y) <= 1 for p in present)


def _scale(canvas: np.ndarray, points: Sequence) -> tuple[float, float]:
    if _normalised(points):
        return float(canvas.shape[0]), float(canvas.shape[1])
    return 1.0, 1.0


def stick_scale(height: int, width: int, xinsr: bool) -> int:
    """xinsir's OpenPose ControlNet wants thicker limbs on large canvases."""
    side = max(height, width)
    if not xinsr or side < 500:
        return 1
    return min(2 + side // 1000, 7)


def hand_color(index: int) -> tuple[int, int, int]:
    """Bone ``index``'s colour: hue ``index / 20`` at full saturation and value, rounded."""
    r, g, b = colorsys.hsv_to_rgb(index / float(len(HAND_EDGES)), 1.0, 1.0)
    return tuple(int(np.clip(np.rint(c * 255.0), 0, 255)) for c in (r, g, b))


def draw_body(canvas: np.ndarray, points: Sequence, xinsr: bool = False) -> None:
    h, w = _scale(canvas, points)
    width = STICK_WIDTH * stick_scale(canvas.shape[0], canvas.shape[1], xinsr)
    for (a, b), color in zip(LIMBS, COLORS):
        p, q = points[a - 1], points[b - 1]
        if p is None or q is None:
            continue
        ys = np.array([p.x, q.x]) * w
        xs = np.array([p.y, q.y]) * h
        length = ((xs[0] - xs[1]) ** 2 + (ys[0] - ys[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(xs[0] - xs[1], ys[0] - ys[1]))
        polygon = ellipse_polygon((int(np.mean(ys)), int(np.mean(xs))), (int(length / 2), width), int(angle))
        fill_convex_poly(canvas, polygon, [int(float(c) * 0.6) for c in color])
    for point, color in zip(points, COLORS):
        if point is not None:
            circle(canvas, (int(point.x * w), int(point.y * h)), 4, color)


def draw_hand(canvas: np.ndarray, points: Optional[Sequence]) -> None:
    if not points:
        return
    h, w = _scale(canvas, points)
    for index, (a, b) in enumerate(HAND_EDGES):
        p, q = points[a], points[b]
        if p is None or q is None:
            continue
        x1, y1, x2, y2 = int(p.x * w), int(p.y * h), int(q.x * w), int(q.y * h)
        if x1 > EPS and y1 > EPS and x2 > EPS and y2 > EPS:
            thick_line(canvas, (x1, y1), (x2, y2), hand_color(index), 2)
    for point in points:
        if point is not None:
            x, y = int(point.x * w), int(point.y * h)
            if x > EPS and y > EPS:
                circle(canvas, (x, y), 4, HAND_POINT)


def draw_face(canvas: np.ndarray, points: Optional[Sequence]) -> None:
    if not points:
        return
    h, w = _scale(canvas, points)
    for point in points:
        if point is not None:
            x, y = int(point.x * w), int(point.y * h)
            if x > EPS and y > EPS:
                circle(canvas, (x, y), 3, FACE_POINT)


def draw_people(persons: Sequence[Person], height: int, width: int, body: bool = True, hands: bool = True,
                face: bool = True, xinsr: bool = False) -> np.ndarray:
    """The pose image ``[height, width, 3]`` ``uint8``: per person body, then hands, then face."""
    canvas = np.zeros((height, width, 3), np.uint8)
    for person in persons:
        if body:
            draw_body(canvas, person.body, xinsr)
        if hands:
            draw_hand(canvas, person.left_hand)
            draw_hand(canvas, person.right_hand)
        if face:
            draw_face(canvas, person.face)
    return canvas
