"""Camera pyramids drawn the way the camera-pose visualizer nodes draw them with matplotlib
(KJNodes' CameraPoseVisualizer, the wrapper's ReCamMasterPoseVisualizer), without
matplotlib: wfrun does not depend on it.

Each camera is a pyramid: its apex at the camera centre and a square base
``(±base_xval, ±base_xval, zval)`` in camera coordinates, mapped by the camera-to-world
matrix; four side triangles and the base, filled translucent and outlined in the camera's
colour from matplotlib's ``rainbow`` map at ``index / count``. The view is matplotlib's
default 3-D view (azimuth -60°, elevation 30°) of the cube ``±2·scale``, as an orthographic
projection onto a canvas of the nodes' figure size (18x7 inches at 100 dpi) and their
background colour. What matplotlib adds and this does not: the perspective of its 3-D
axes, the axes box, grid, ticks and labels, the colour bar, and the cropping of
``bbox_inches='tight'``, so the picture's size is fixed here.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

BACKGROUND = (0x35, 0x35, 0x35)
SIZE = (1800, 700)
#: The pyramid's faces, by vertex: apex 0, base corners 1-4.
FACES = ((0, 1, 2), (0, 2, 3), (0, 3, 4), (0, 4, 1), (1, 2, 3, 4))


def rainbow(x: float) -> tuple[int, int, int]:
    """matplotlib's ``rainbow`` colour map at ``x`` in 0..1."""
    r = abs(2 * x - 1)
    g = math.sin(math.pi * x)
    b = math.cos(math.pi * x / 2)
    return tuple(int(round(255 * min(max(v, 0.0), 1.0))) for v in (r, g, b))


def projector(scale: float, size: tuple[int, int] = SIZE):
    """Points in the plot's cube (±2·scale) → pixels, in matplotlib's default view."""
    azim, elev = math.radians(-60), math.radians(30)
    right = np.array([-math.sin(azim), math.cos(azim), 0.0])
    up = np.array([-math.cos(azim) * math.sin(elev), -math.sin(azim) * math.sin(elev), math.cos(elev)])
    width, height = size
    pixels = min(width, height) / (2 * 2.0 * scale * math.sqrt(3))

    def project(p: np.ndarray) -> tuple[float, float]:
        return width / 2 + pixels * float(p @ right), height / 2 - pixels * float(p @ up)
    return project


def pyramid(base_xval: float, zval: float, hw_ratio: float = 1.0) -> np.ndarray:
    """``[5, 4]`` homogeneous vertices of one camera's pyramid in its own coordinates."""
    b, z = float(base_xval), float(zval)
    return np.array([[0, 0, 0, 1], [b, -b * hw_ratio, z, 1], [b, b * hw_ratio, z, 1],
                     [-b, b * hw_ratio, z, 1], [-b, -b * hw_ratio, z, 1]], dtype=np.float64)


def draw_cameras(cameras: Sequence[np.ndarray], base_xval: float, zvals: Sequence[float], scale: float,
                 arrow_length: float = 0.0, fill_alpha: int = 64) -> np.ndarray:
    """``[H, W, 3]`` float32 in 0..1: a pyramid per camera-to-world matrix (4x4), the
    ``i``-th with base depth ``zvals[i]``, its faces filled with opacity ``fill_alpha``
    (of 255; matplotlib's ``alpha=0.25`` is 64); with ``arrow_length`` a black line along
    each camera's view axis from its base centre."""
    project = projector(float(scale))
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image, "RGBA")
    count = len(cameras)
    for index, c2w in enumerate(cameras):
        colour = rainbow(index / count)
        corners = [project(v[:3]) for v in pyramid(base_xval, zvals[index]) @ np.asarray(c2w, dtype=np.float64).T]
        for face in FACES:
            draw.polygon([corners[i] for i in face], fill=colour + (int(fill_alpha),), outline=colour + (255,))
        if arrow_length > 0:
            start = c2w[:3, 3] + c2w[:3, 2] * float(base_xval)
            draw.line([project(start), project(start + c2w[:3, 2] * float(arrow_length))], fill=(0, 0, 0, 255),
                      width=2)
    return np.asarray(image, dtype=np.float32) / 255.0
