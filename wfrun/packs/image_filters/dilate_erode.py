"""ComfyUI-Image-Filters' ``DilateErodeMask`` (``nodes.py``, the same from 2023-12-15 to
f73e586, 2025-07-21): OpenCV's ``dilate`` (``radius`` > 0) or ``erode`` (``radius`` < 0) of
each mask, once, with a ``(2|r|+1)²`` kernel: every cell (``box``) or the filled circle of
radius ``|r|`` that ``cv2.circle`` draws at the kernel's centre (``circle``); ``radius`` 0
passes the masks on as they are.

Dilation is the largest value under the kernel, erosion the smallest; OpenCV's default
border for both (``morphologyDefaultBorderValue``) never wins, so only pixels inside the
mask count. wfrun computes it row by row of the kernel: a circle kernel is one horizontal
span per row, so the result is the max (min) over the kernel's rows of a 1-D running max
(min) of that row's span width, shifted by the row's offset; the same numbers as the 2-D
filter, in ``O(pixels × kernel height)``. The circle's spans are OpenCV's
(:func:`wfrun.models.pose.raster.circle`). The result is a float32 CPU tensor, as the
pack's ``torch.from_numpy`` of its copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from wfrun.models.pose.raster import circle
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_RADIUS = 1023


def kernel_spans(radius: int, shape: str) -> list[int]:
    """Half-width of the kernel's span on each row ``-radius … radius`` (-1: an empty row)."""
    d = 2 * radius + 1
    if shape == "box":
        return [radius] * d
    canvas = np.zeros((d, d, 1), np.uint8)
    circle(canvas, (radius, radius), radius, (1,))
    spans = []
    for row in canvas[:, :, 0]:
        on = np.flatnonzero(row)
        # a filled circle's row is one centred span
        spans.append(int(radius - on[0]) if on.size else -1)
    return spans


def morph(mask: np.ndarray, spans: list[int], dilate: bool) -> np.ndarray:
    radius = len(spans) // 2
    fill = -np.inf if dilate else np.inf
    running = maximum_filter1d if dilate else minimum_filter1d
    pick = np.maximum if dilate else np.minimum
    h = mask.shape[0]
    out = np.full(mask.shape, fill, dtype=np.float64)
    widths: dict[int, np.ndarray] = {}
    for row, half in enumerate(spans):
        if half < 0:
            continue
        if half not in widths:
            widths[half] = running(mask.astype(np.float64), size=2 * half + 1, axis=1, mode="constant", cval=fill)
        dy = row - radius  # kernel row dy: output y reads input y + dy
        src = widths[half]
        if dy >= 0:
            if dy < h:
                out[:h - dy] = pick(out[:h - dy], src[dy:])
        elif -dy < h:
            out[-dy:] = pick(out[-dy:], src[:h + dy])
    return out


@executor("DilateErodeMask", pure=True)
def dilate_erode_mask(ctx: ExecContext, masks: Any, radius: Any, shape: Any, **_: Any) -> tuple:
    if not isinstance(masks, torch.Tensor) or masks.ndim != 3:
        raise NodeInputError("masks", "masks: expected a MASK batch [masks, height, width]",
                             "connect a MASK output to 'masks'")
    if isinstance(radius, bool) or not isinstance(radius, int) or abs(radius) > MAX_RADIUS:
        raise NodeInputError("radius", f"radius: expected a whole number from -{MAX_RADIUS} to {MAX_RADIUS}, "
                             f"found {radius!r}")
    if shape not in ("box", "circle"):
        raise NodeInputError("shape", f"shape: {shape!r} is not box or circle")
    if radius == 0:
        return (masks,)
    spans = kernel_spans(abs(radius), shape)
    source = masks.detach().cpu().numpy()
    out = np.stack([morph(m, spans, radius > 0) for m in source]).astype(source.dtype)
    return (torch.from_numpy(out),)
