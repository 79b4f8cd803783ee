"""The pose image of Wan 2.2 Animate (``draw_aapose_by_meta_new`` of the Wan team's
``human_visualization.py``, as ComfyUI-WanAnimatePreprocess's ``DrawViTPose`` calls it), on a
black ``uint8`` RGB canvas with ``raster``'s OpenCV primitives:

- body: the 20 points (OpenPose's 18 and two toes); 19 limbs, each an ellipse along the limb
  (half its length by the stick width) filled at 60% of the limb's colour, then a disc of the
  stick width per point in its colour; a limb or point is drawn when its scores reach 0.5.
  Without the head, the nose, eyes and ears score 0;
- hands: 20 bones as lines of the hand stick width coloured round the hue circle, then a disc
  of that radius per point in (0, 0, 255); points at or before column or row 0 are skipped,
  as are those scoring under 0.5;
- the stick widths: the body's ``max(min(H, W) // 200 - 1, 1)`` and the hands' half of that
  (at least 1) when given as -1.

Points are frame pixels (float), truncated to integers where OpenCV takes them.
"""

from __future__ import annotations

import math

import numpy as np

from wfrun.models.pose.draw import COLORS, EPS, HAND_EDGES, HAND_POINT, hand_color
from wfrun.models.pose.raster import circle, ellipse_polygon, fill_convex_poly, line8, thick_line

THRESHOLD = 0.5
LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13), (13, 14),
         (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (14, 19), (11, 20))
BODY_COLORS = COLORS + ((200, 200, 0), (100, 100, 0))
HEAD_POINTS = (0, 14, 15, 16, 17)


def body_stick(height: int, width: int, given: int) -> int:
    return max(int(min(height, width) / 200) - 1, 1) if given == -1 else int(given)


def hand_stick(height: int, width: int, given: int) -> int:
    return max(max(int(min(height, width) / 200) - 1, 1) // 2, 1) if given == -1 else int(given)


def draw_body(canvas: np.ndarray, body: np.ndarray, stick: int, head: bool = True) -> None:
    """``body`` ``[20, 3]`` in pixels with scores."""
    body = np.array(body, np.float64)
    if not head:
        body[list(HEAD_POINTS), 2] = 0
    for (a, b), color in zip(LIMBS, BODY_COLORS):
        p, q = body[a - 1], body[b - 1]
        if p[-1] < THRESHOLD or q[-1] < THRESHOLD:
            continue
        ys = np.array([p[0], q[0]])
        xs = np.array([p[1], q[1]])
        length = ((xs[0] - xs[1]) ** 2 + (ys[0] - ys[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(xs[0] - xs[1], ys[0] - ys[1]))
        polygon = ellipse_polygon((int(np.mean(ys)), int(np.mean(xs))), (int(length / 2), stick), int(angle))
        fill_convex_poly(canvas, polygon, [int(float(c) * 0.6) for c in color])
    for point, color in zip(body, BODY_COLORS):
        if point[-1] < THRESHOLD:
            continue
        circle(canvas, (int(point[0]), int(point[1])), stick, color)


def _line(canvas: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color, thickness: int) -> None:
    if thickness == 1:
        line8(canvas, p0, p1, color)
    else:
        thick_line(canvas, p0, p1, color, thickness)


def draw_hand(canvas: np.ndarray, hand: np.ndarray, stick: int) -> None:
    """``hand`` ``[21, 3]`` in pixels with scores."""
    for index, (a, b) in enumerate(HAND_EDGES):
        p, q = hand[a], hand[b]
        if p[2] < THRESHOLD or q[2] < THRESHOLD:
            continue
        x1, y1, x2, y2 = int(p[0]), int(p[1]), int(q[0]), int(q[1])
        if x1 > EPS and y1 > EPS and x2 > EPS and y2 > EPS:
            _line(canvas, (x1, y1), (x2, y2), hand_color(index), stick)
    for point in hand:
        if point[2] < THRESHOLD:
            continue
        x, y = int(point[0]), int(point[1])
        if x > EPS and y > EPS:
            circle(canvas, (x, y), stick, HAND_POINT)


def draw_pose(height: int, width: int, body: np.ndarray, left_hand: np.ndarray, right_hand: np.ndarray,
              body_stick_width: int = -1, hand_stick_width: int = -1, head: bool = True) -> np.ndarray:
    """The ``[height, width, 3]`` ``uint8`` pose image; hands are left out when their stick width is 0."""
    canvas = np.zeros((height, width, 3), np.uint8)
    draw_body(canvas, body, body_stick(height, width, body_stick_width), head)
    if hand_stick_width != 0:
        stick = hand_stick(height, width, hand_stick_width)
        draw_hand(canvas, left_hand, stick)
        draw_hand(canvas, right_hand, stick)
    return canvas
