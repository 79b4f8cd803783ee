"""PixelPerfectResolution (``hint_image_enchance.py``): the preprocessor resolution that
maps the original image onto the generation size pixel for pixel.

With ``k = gen / raw`` per side, the estimate is ``max(k_h, k_w) * min(raw_h, raw_w)``,
or ``min(…)`` for "Resize and Fill" (the outer fit), rounded half to even (numpy's
``round``) to an int.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")


@executor("PixelPerfectResolution")
def pixel_perfect_resolution(ctx: ExecContext, original_image: Any, image_gen_width: int, image_gen_height: int,
                             resize_mode: str, **_: Any) -> tuple:
    if not isinstance(original_image, torch.Tensor) or original_image.ndim != 4 or 0 in original_image.shape[1:3]:
        raise NodeInputError("original_image", "expected an IMAGE batch [frames, height, width, channels], got "
                             f"{getattr(original_image, 'shape', type(original_image).__name__)}")
    if resize_mode not in RESIZE_MODES:
        raise NodeInputError("resize_mode", f"unknown resize mode {resize_mode!r}", f"use one of {', '.join(RESIZE_MODES)}")
    raw_h, raw_w = int(original_image.shape[1]), int(original_image.shape[2])
    k_h, k_w = float(image_gen_height) / raw_h, float(image_gen_width) / raw_w
    pick = min if resize_mode == "Resize and Fill" else max
    return (int(round(pick(k_h, k_w) * min(raw_h, raw_w))),)
