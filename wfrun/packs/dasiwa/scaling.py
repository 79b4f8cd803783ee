"""DaSiWa Resolution Scale Calculator (``nodes/scaling_nodes.py``), in its first form
(9eac62a, 2026-04-03, and 995e5ee, 2026-05-09: method, precision and resolution presets,
no_scale, scale_from_image, aspect preset, swap, manual aspect, mode).

It picks a target area in megapixels (10**6 pixels) from a preset table, an aspect ratio
from the image (its width and height) or from an aspect preset (the manual width:height for
``CUSTOM``; ``swap_aspect`` exchanges them, for presets only), and gives
``sqrt(area * ratio)`` by ``sqrt(area / ratio)``, rounded to a multiple of 32 in the
"WAN/LTX (Div32)" mode, of 64 in the "LTX 2-Stage (Div64)" mode (995e5ee), or to a whole
number ("Standard"); the integer outputs are at least 32 (64 from 995e5ee), the float
outputs are the rounded values before that floor. ``no_scale`` gives the source width and
height as they are (an aspect preset's own small numbers, when not from an image).

Later forms (a custom divisor from 37f2ee4, the reworked presets of 6fb01e3, the
1024**2-pixel megapixel of 112e6d1) are refused: none of this set's files uses them.
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

PRECISION_PRESETS = {
    "0.26 MP - Preview": 0.26, "0.36 MP - Small": 0.36, "0.52 MP - SD": 0.52, "0.65 MP - Balanced": 0.65,
    "0.83 MP - HD": 0.83, "1.05 MP - HD+": 1.05, "1.20 MP - HD++": 1.20, "1.35 MP - 2K lite": 1.35,
    "1.55 MP - 2K": 1.55, "1.65 MP - 2K+": 1.65, "1.75 MP - QHD": 1.75, "2.10 MP - FHD": 2.10,
    "3.30 MP - QHD+": 3.30, "4.75 MP - 2K Pro": 4.75, "6.50 MP - Production": 6.50, "8.30 MP - UHD": 8.30,
}
RESOLUTION_PRESETS = {"360p": 0.23, "480p": 0.38, "720p": 0.92, "1080p": 2.07, "1440p": 3.68, "2K": 4.19, "4K": 8.29}
ASPECT_PRESETS = {"1:1 - Square": (1, 1), "2:3 - Classic": (2, 3), "3:4 - Photo": (3, 4), "5:8 - Tall": (5, 8),
                  "9:16 - Social": (9, 16), "9:21 - Cinema": (9, 21), "CUSTOM": (0, 0)}
#: The Div64 mode and the floor of 64 came with 995e5ee.
DIV64_DATE = "2026-05-09"


def _source_size(scale_from_image: bool, image: Any, aspect_preset: str, swap_aspect: bool,
                 manual_w: int, manual_h: int) -> tuple[float, float]:
    if scale_from_image:
        if image is None:
            raise NodeInputError("image", "image: 'scale_from_image' is on, but no image is connected "
                                 "(the pack raises the same)", "connect an image or turn scale_from_image off")
        shape = getattr(image, "shape", ())
        if len(shape) != 4:
            raise NodeInputError("image", f"image: expected a batch of images [frames, height, width, 3], "
                                 f"found shape {tuple(shape)}")
        return float(shape[2]), float(shape[1])
    if aspect_preset == "CUSTOM":
        w, h = float(manual_w), float(manual_h)
    else:
        w, h = ASPECT_PRESETS.get(aspect_preset, (1, 1))
    return (h, w) if swap_aspect else (w, h)


@executor("DaSiWa_ResolutionScaleCalculator", pure=True)
def resolution_scale(ctx: ExecContext, no_scale: bool, scale_from_image: bool, swap_aspect: bool = False,
                     mode: str = "", image: Any = None, **rest: Any) -> tuple:
    if "custom_divisor" in rest or "resolution_preset" in rest:
        name = "custom_divisor" if "custom_divisor" in rest else "resolution_preset"
        raise NodeInputError(name, "this form of the DaSiWa Resolution Scale Calculator (2026-05-09 and later, "
                             "with a custom divisor or the reworked presets) is not implemented",
                             "save the workflow with the node's first form, or replace it by fixed width and height")
    source_w, source_h = _source_size(scale_from_image, image, rest["aspect_preset"], swap_aspect,
                                      rest["manual_aspect_width"], rest["manual_aspect_height"])
    if no_scale:
        return int(source_w), int(source_h), float(int(source_w)), float(int(source_h))
    if source_h == 0:
        raise NodeInputError("aspect_preset", "aspect_preset: the aspect ratio has a height of 0")
    ratio = source_w / source_h
    if rest["method"] == "Use Resolution Presets":
        area = RESOLUTION_PRESETS.get(rest["resolution_presets"], 2.07)
    else:
        area = PRECISION_PRESETS.get(rest["precision_presets"], 0.52)
    pixels = area * 1_000_000
    calc_w, calc_h = math.sqrt(pixels * ratio), math.sqrt(pixels / ratio)
    new_floor = (ctx.saved_date or "") >= DIV64_DATE
    if mode == "LTX 2-Stage (Div64)":
        w, h = int(round(calc_w / 64.0) * 64), int(round(calc_h / 64.0) * 64)
    elif mode == "WAN/LTX (Div32)":
        w, h = int(round(calc_w / 32.0) * 32), int(round(calc_h / 32.0) * 32)
    else:
        w, h = int(round(calc_w)), int(round(calc_h))
    floor = 64 if new_floor else 32
    return max(w, floor), max(h, floor), float(w), float(h)
