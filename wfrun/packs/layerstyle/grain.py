"""LayerStyle's ``LayerFilter: AddGrain`` (``py/add_grain.py`` with ``py/imagefunc.py``'s
``image_add_grain``; inputs unchanged since 2024-06-12).

Per frame, as the pack does it:

1. The frame goes to 8 bits by truncation (``uint8(clip(255 x))``), RGB, and back to floats.
2. The grain: ``torch.manual_seed(seed)``, then ``torch.rand(1, int(H // grain_scale),
   int(W // grain_scale), 3)`` (CPU generator, float32). Since 2025-01-26 the seed is
   ``int(time.time()) + i`` for frame ``i``; before, ``int(time.time())`` for every frame
   (the same grain on each). The pack reads the wall clock, so its grain differs on every
   run; wfrun does the same (the seed used is logged). wfrun always seeds per frame, as the
   pack has since 2025-01-26: the node's inputs did not change then, so a file does not say
   which revision saved it (a file of that earlier revision gets a new pattern per frame
   where the pack repeated one).
3. To the pack's "YCbCr" (its own matrix: Y = .2123 R + .7152 G + .0722 B,
   Cb = -.1146 R - .3854 G + .5 B, Cr = .5 R - .4542 G - .0458 B), each channel blurred
   with OpenCV's ``GaussianBlur`` — Y 3x3, Cb 15x15, Cr 11x11, sigma 0 (from the size:
   ``0.3 ((k - 1) / 2 - 1) + 0.8``, and for sizes up to 7 OpenCV's fixed binomial table),
   border ``BORDER_REFLECT_101`` — then back (R = Y + 1.5748 Cr, G = Y - .1873 Cb - .4681 Cr,
   B = Y + 1.8556 Cb).
4. ``g = (rgb - 0.5) * grain_power``; R doubled, B tripled; ``g += 1``; saturation:
   ``g * grain_sat + g[G] * (1 - grain_sat)``; bilinear resize to the frame
   (``align_corners=False``); ``out = clip(1 - (1 - x) * g, 0, 1)`` (the pack's ``toe`` is 0).
5. Back to 8 bits by truncation, and to floats.

OpenCV is not a wfrun dependency: the blur is written here (separable, rows then columns,
in float32 as OpenCV filters a float32 image). Sums may round in another order than
OpenCV's SIMD code, a difference of about 1e-7 that can move a pixel by one 8-bit level
where the value sits on a level boundary.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

#: OpenCV's fixed kernels for odd sizes up to 7 when sigma <= 0 (``getGaussianKernel``).
SMALL_GAUSSIAN = {1: (1.0,), 3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
                  7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)}
#: Largest grain canvas side (the pack allows scale 0.1: 10x the frame); a bound on untrusted files.
MAX_GRAIN_SIDE = 32768


def gaussian_kernel(size: int) -> np.ndarray:
    """``cv2.getGaussianKernel(size, 0)``: float32 weights summing to 1."""
    if size in SMALL_GAUSSIAN:
        kernel = np.array(SMALL_GAUSSIAN[size], dtype=np.float64)
    else:
        sigma = ((size - 1) * 0.5 - 1) * 0.3 + 0.8
        x = np.arange(size, dtype=np.float64) - (size - 1) * 0.5
        kernel = np.exp(-0.5 / (sigma * sigma) * x * x)
    return (kernel / kernel.sum()).astype(np.float32)


def reflect101(index: np.ndarray, length: int) -> np.ndarray:
    """OpenCV's ``borderInterpolate`` for ``BORDER_REFLECT_101`` (``gfedcb|abcdefgh|gfedcba``),
    repeated for kernels longer than the image."""
    if length == 1:
        return np.zeros_like(index)
    out = index.copy()
    while True:
        low, high = out < 0, out >= length
        if not (low.any() or high.any()):
            return out
        out = np.where(low, -out, out)
        out = np.where(high, 2 * (length - 1) - out, out)


def _filter_axis(image: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    length = image.shape[axis]
    radius = len(kernel) // 2
    out = np.zeros_like(image, dtype=np.float32)
    for k, weight in enumerate(kernel):
        idx = reflect101(np.arange(length) + k - radius, length)
        out += np.float32(weight) * np.take(image, idx, axis=axis)
    return out


def gaussian_blur(image: np.ndarray, size: int) -> np.ndarray:
    """``cv2.GaussianBlur(image, (size, size), 0)`` of a 2-D float32 image."""
    kernel = gaussian_kernel(size)
    return _filter_axis(_filter_axis(image.astype(np.float32), kernel, 1), kernel, 0)


def _blur_channel(grain: torch.Tensor, channel: int, size: int) -> torch.Tensor:
    """``cv_blur_tensor`` on one channel ([1, h, w]); its downscaled path (kernels over 100)
    is never taken by AddGrain."""
    return torch.from_numpy(gaussian_blur(grain[0, :, :, channel].numpy(), size)).unsqueeze(0)


def add_grain(frame: torch.Tensor, scale: float, strength: float, saturation: float, seed: int) -> torch.Tensor:
    """One frame [H, W, 3] (already 8-bit levels) with the pack's grain, before the final
    8-bit truncation."""
    t = frame.unsqueeze(0).clone()
    height, width = t.shape[1], t.shape[2]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    grain = torch.rand(1, int(height // scale), int(width // scale), 3, generator=generator)
    r, g, b = grain[..., 0], grain[..., 1], grain[..., 2]
    ycc = grain.clone()
    ycc[..., 0] = 0.2123 * r + 0.7152 * g + 0.0722 * b
    ycc[..., 1] = 0 - 0.1146 * r - 0.3854 * g + 0.5 * b
    ycc[..., 2] = 0.5 * r - 0.4542 * g - 0.0458 * b
    ycc[..., 0] = _blur_channel(ycc, 0, 3)
    ycc[..., 1] = _blur_channel(ycc, 1, 15)
    ycc[..., 2] = _blur_channel(ycc, 2, 11)
    rgb = ycc.clone()
    rgb[..., 0] = ycc[..., 0] + 1.5748 * ycc[..., 2]
    rgb[..., 1] = ycc[..., 0] - 0.1873 * ycc[..., 1] - 0.4681 * ycc[..., 2]
    rgb[..., 2] = ycc[..., 0] + 1.8556 * ycc[..., 1]
    grain = (rgb - 0.5) * strength
    grain[..., 0] *= 2
    grain[..., 2] *= 3
    grain += 1
    grain = grain * saturation + grain[..., 1].unsqueeze(3).repeat(1, 1, 1, 3) * (1 - saturation)
    grain = F.interpolate(grain.movedim(-1, 1), size=(height, width), mode="bilinear").movedim(1, -1)
    t[..., :3] = torch.clip(1 - (1 - t[..., :3]) * grain, 0, 1)
    return t[0]


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """The pack's trip through Pillow: ``uint8(clip(255 x, 0, 255)) / 255``."""
    return torch.from_numpy(np.clip(255.0 * x.numpy(), 0, 255).astype(np.uint8).astype(np.float32) / 255.0)


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NodeInputError(name, f"expected a number, found {value!r}")
    if not low <= value <= high:
        raise NodeInputError(name, f"{value} is outside {low}..{high}, the pack's range")
    return float(value)


@executor("LayerFilter: AddGrain")
def layer_filter_add_grain(ctx: ExecContext, image: Any, grain_power: Any, grain_scale: Any, grain_sat: Any,
                           **_: Any) -> tuple:
    power = _number("grain_power", grain_power, 0, 1)
    scale = _number("grain_scale", grain_scale, 0.1, 10)
    sat = _number("grain_sat", grain_sat, 0, 1)
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] == 0 or image.shape[-1] < 3:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, 3]")
    height, width = int(image.shape[1]), int(image.shape[2])
    if int(height // scale) < 1 or int(width // scale) < 1 or max(height, width) / scale > MAX_GRAIN_SIDE:
        raise NodeInputError("grain_scale", f"a {width}x{height} frame at grain_scale {scale} gives a grain canvas "
                             f"of {int(width // scale)}x{int(height // scale)}, outside 1..{MAX_GRAIN_SIDE}")
    base = int(time.time())
    log.info("AddGrain node %s: grain seed %d + frame index", ctx.node_id, base)
    frames = []
    for i, frame in enumerate(image):
        ctx.check_interrupt()
        rgb = to_levels(frame[..., :3].detach().cpu().float())
        frames.append(to_levels(add_grain(rgb, scale, power, sat, base + i)))
    return (torch.stack(frames),)
