"""The few OpenCV drawing primitives the OpenPose drawing uses, on a ``uint8`` ``[H, W, 3]``
numpy canvas, in OpenCV's integer rules so the same pixels light up:

- ``circle``: ``cv2.circle(..., thickness=-1)`` with the default 8-connected line type, the
  midpoint circle whose octant steps give one filled horizontal span per step;
- ``ellipse_polygon``: ``cv2.ellipse2Poly`` with integer arguments (points at each whole
  degree from the sine table, rotated, rounded half to even, consecutive repeats dropped);
- ``fill_convex_poly``: ``cv2.fillConvexPoly`` (8-connected): the outline drawn as lines, then
  one span per row between the two edge chains that start at the topmost vertex, the edges
  stepped in 16-bit fixed point and the span ends rounded;
- ``thick_line``: ``cv2.line`` with a thickness above 1: a quad half the thickness either side
  (fixed point), filled as above, with a filled circle on each end.

Where this differs: outlines are not clipped to the canvas before stepping (OpenCV clips them
first, which can move the pixels of a line that leaves the canvas by one).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT

Color = Sequence[int]


def _span(canvas: np.ndarray, y: int, x1: int, x2: int, color: Color) -> None:
    height, width = canvas.shape[:2]
    if 0 <= y < height and x2 >= 0 and x1 < width:
        canvas[y, max(x1, 0):min(x2, width - 1) + 1] = color


def _put(canvas: np.ndarray, x: int, y: int, color: Color) -> None:
    if 0 <= y < canvas.shape[0] and 0 <= x < canvas.shape[1]:
        canvas[y, x] = color


def circle(canvas: np.ndarray, center: tuple[int, int], radius: int, color: Color) -> None:
    """A filled circle: for each step of the midpoint walk (``dx`` from ``radius`` down, ``dy``
    up from 0), the spans ``cx ± dx`` on rows ``cy ± dy`` and ``cx ± dy`` on rows ``cy ± dx``."""
    cx, cy = int(center[0]), int(center[1])
    err, dx, dy, plus, minus = 0, int(radius), 0, 1, 2 * int(radius) - 1
    while dx >= dy:
        _span(canvas, cy - dy, cx - dx, cx + dx, color)
        _span(canvas, cy + dy, cx - dx, cx + dx, color)
        _span(canvas, cy - dx, cx - dy, cx + dy, color)
        _span(canvas, cy + dx, cx - dy, cx + dy, color)
        dy += 1
        err += plus
        plus += 2
        if err > 0:  # step inwards
            err -= minus
            dx -= 1
            minus -= 2


def line8(canvas: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color: Color) -> None:
    """An 8-connected line, ends included: always one step along the longer axis, and one along
    the shorter when the running error ``2*major - 2*minor*k`` has gone negative. Drawn from
    the left end, as OpenCV's ``Line`` does (its iterator is made left to right), so both
    directions light the same pixels."""
    if int(p1[0]) < int(p0[0]):
        p0, p1 = p1, p0
    x, y = int(p0[0]), int(p0[1])
    ddx, ddy = int(p1[0]) - x, int(p1[1]) - y
    sx, sy = (1 if ddx >= 0 else -1), (1 if ddy >= 0 else -1)
    major, minor = abs(ddx), abs(ddy)
    x_major = major >= minor
    if not x_major:
        major, minor = minor, major
    err = major - 2 * minor
    for _ in range(major + 1):
        _put(canvas, x, y, color)
        diagonal = err < 0
        err += -2 * minor + (2 * major if diagonal else 0)
        if x_major:
            x += sx
            y += sy if diagonal else 0
        else:
            y += sy
            x += sx if diagonal else 0


def line_fixed(canvas: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color: Color) -> None:
    """A line between 16-bit fixed-point ends (OpenCV's outline of sub-pixel polygons): ordered
    along its longer axis, one pixel per whole step there, the other coordinate advanced by the
    truncated fixed-point slope and rounded at each pixel."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    if abs(dx) > abs(dy):
        if dx < 0:
            (x0, y0), (x1, y1), dx, dy = (x1, y1), (x0, y0), -dx, -dy
        slope = _trunc_div(dy * XY_ONE, abs(dx) | 1)
        count = (x1 - x0) >> XY_SHIFT
        x, y = (x0 + (XY_ONE >> 1)) >> XY_SHIFT, y0 + (XY_ONE >> 1)
        for _ in range(count + 1):
            _put(canvas, x, y >> XY_SHIFT, color)
            x, y = x + 1, y + slope
    else:
        if dy < 0:
            (x0, y0), (x1, y1), dx, dy = (x1, y1), (x0, y0), -dx, -dy
        slope = _trunc_div(dx * XY_ONE, abs(dy) | 1)
        count = (y1 - y0) >> XY_SHIFT
        x, y = x0 + (XY_ONE >> 1), (y0 + (XY_ONE >> 1)) >> XY_SHIFT
        for _ in range(count + 1):
            _put(canvas, x >> XY_SHIFT, y, color)
            x, y = x + slope, y + 1


def _trunc_div(a: int, b: int) -> int:
    """C's integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fill_convex_poly(canvas: np.ndarray, points: Sequence[tuple[int, int]], color: Color, shift: int = 0) -> None:
    """A filled convex polygon whose vertices carry ``shift`` fractional bits."""
    pts = [(int(x), int(y)) for x, y in points]
    n = len(pts)
    if n == 0:
        return
    height, width = canvas.shape[:2]
    delta = (1 << shift) >> 1
    for i in range(n):  # the outline, each edge from the previous vertex
        a, b = pts[i - 1], pts[i]
        if shift == 0:
            line8(canvas, a, b, color)
        else:
            up = XY_SHIFT - shift
            line_fixed(canvas, (a[0] << up, a[1] << up), (b[0] << up, b[1] << up), color)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    top = min(range(n), key=lambda i: (ys[i], i))
    xmin, xmax = (min(xs) + delta) >> shift, (max(xs) + delta) >> shift
    ymin, ymax = (min(ys) + delta) >> shift, (max(ys) + delta) >> shift
    if n < 3 or xmax < 0 or ymax < 0 or xmin >= width or ymin >= height:
        return
    ymax = min(ymax, height - 1)
    up = XY_SHIFT - shift
    # two chains from the top vertex: [index, step, x (16-bit fixed), dx, row where it ends]
    chains = [[top, 1, -XY_ONE, 0, ymin], [top, n - 1, -XY_ONE, 0, ymin]]
    edges = n
    y = ymin
    while True:
        for chain in chains:
            if y < chain[4]:
                continue
            start, step = chain[0], chain[1]
            nxt = (start + step) % n
            while True:
                edges -= 1
                if edges < 0:
                    break
                end_y = (ys[nxt] + delta) >> shift
                if end_y > y:
                    xs0, xe = xs[start] << up, xs[nxt] << up
                    chain[2] = xs0
                    chain[3] = _trunc_div((xe - xs0) * 2 + (end_y - y), 2 * (end_y - y))
                    chain[4], chain[0] = end_y, nxt
                    break
                start, nxt = nxt, (nxt + step) % n
        if edges < 0:
            break
        if y >= 0:
            left, right = sorted((chains[0][2], chains[1][2]))
            _span(canvas, y, (left + (XY_ONE >> 1)) >> XY_SHIFT, (right + (XY_ONE >> 1)) >> XY_SHIFT, color)
        chains[0][2] += chains[0][3]
        chains[1][2] += chains[1][3]
        y += 1
        if y > ymax:
            break


#: ``sin`` of each whole degree, as the float table OpenCV's ellipse code reads.
_SIN = np.sin(np.deg2rad(np.arange(451))).astype(np.float32).astype(np.float64)


def ellipse_polygon(center: tuple[int, int], axes: tuple[int, int], angle: int) -> list[tuple[int, int]]:
    """The full-turn outline of an ellipse at one-degree steps (``ellipse2Poly(center, axes,
    angle, 0, 360, 1)``)."""
    angle = int(angle)
    while angle < 0:
        angle += 360
    while angle > 360:
        angle -= 360
    cos_a, sin_a = _SIN[450 - angle], _SIN[angle]
    degrees = np.arange(361)
    x = axes[0] * _SIN[450 - degrees]
    y = axes[1] * _SIN[degrees]
    px = np.rint(center[0] + x * cos_a - y * sin_a).astype(np.int64)
    py = np.rint(center[1] + x * sin_a + y * cos_a).astype(np.int64)
    keep = np.ones(361, bool)
    keep[1:] = (px[1:] != px[:-1]) | (py[1:] != py[:-1])
    out = list(zip(px[keep].tolist(), py[keep].tolist()))
    if len(out) == 1:
        out.append(out[0])
    return out


def thick_line(canvas: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], color: Color, thickness: int) -> None:
    """``cv2.line`` with ``thickness`` > 1 (8-connected): a fixed-point quad and two end discs."""
    x0, y0 = int(p0[0]) << XY_SHIFT, int(p0[1]) << XY_SHIFT
    x1, y1 = int(p1[0]) << XY_SHIFT, int(p1[1]) << XY_SHIFT
    dx, dy = (x0 - x1) / XY_ONE, (y1 - y0) / XY_ONE
    half = thickness << (XY_SHIFT - 1)
    odd = thickness & 1
    length2 = dx * dx + dy * dy
    if length2 > 2.220446049250313e-16:
        r = (half + odd * XY_ONE * 0.5) / math.sqrt(length2)
        px, py = int(np.rint(dy * r)), int(np.rint(dx * r))
        quad = [(x0 + px, y0 + py), (x0 - px, y0 - py), (x1 - px, y1 - py), (x1 + px, y1 + py)]
        fill_convex_poly(canvas, quad, color, shift=XY_SHIFT)
    radius = (half + (XY_ONE >> 1)) >> XY_SHIFT
    for x, y in ((x0, y0), (x1, y1)):
        circle(canvas, ((x + (XY_ONE >> 1)) >> XY_SHIFT, (y + (XY_ONE >> 1)) >> XY_SHIFT), radius, color)


def fill_poly(canvas: np.ndarray, points: Sequence[tuple[int, int]], color: Color) -> None:
    """``cv2.fillPoly`` of one integer polygon (8-connected, convex or not), all of whose
    vertices lie on the canvas: the outline drawn as lines, then on each row the spans between
    pairs of the edges crossing it, in order of ``x``. Each edge covers the rows from its upper
    end to just before its lower one, its ``x`` stepped in 16-bit fixed point from the upper
    end (plus half a pixel) by the truncated slope; a span runs from the left edge's pixel to
    the right edge's pixel. (OpenCV also clips edges that leave the canvas; these do not.)"""
    pts = [(int(x), int(y)) for x, y in points]
    n = len(pts)
    if n == 0:
        return
    edges = []  # (upper row, lower row, x at the upper row, dx per row), x in fixed point
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i - 1], pts[i]
        line8(canvas, (x0, y0), (x1, y1), color)
        if y0 == y1:
            continue
        fx0, fx1 = (x0 << XY_SHIFT) + (XY_ONE >> 1), (x1 << XY_SHIFT) + (XY_ONE >> 1)
        dx = _trunc_div(fx1 - fx0, y1 - y0)
        edges.append((y0, y1, fx0, dx) if y0 < y1 else (y1, y0, fx1, dx))
    if len(edges) < 2:
        return
    height = canvas.shape[0]
    top = min(e[0] for e in edges)
    bottom = min(max(e[1] for e in edges), height)
    for y in range(max(top, 0), bottom):
        xs = sorted(x + (y - y0) * dx for y0, y1, x, dx in edges if y0 <= y < y1)
        for left, right in zip(xs[0::2], xs[1::2]):
            _span(canvas, y, left >> XY_SHIFT, right >> XY_SHIFT, color)


def contour_area(points: Sequence[tuple[float, float]]) -> float:
    """``cv2.contourArea``: the polygon's area by the shoelace formula, unsigned."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)
