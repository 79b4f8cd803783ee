"""rgthree's Image Inset Crop (``py/image_inset_crop.py``, unchanged since 2023-09).

Each of ``left``, ``right``, ``top`` and ``bottom`` is an inset in pixels, or with
``measurement`` "Percentage" a percent of the width or height (the pack's
``int(size - size * (100 - p) / 100)``); each is then snapped down to a multiple of 8. All four
zero gives the image unchanged; insets that cross (top past bottom, left past right) are the
pack's ValueError, a NodeInputError here. Insets that meet give an empty image, as in the pack.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

_SIDES = ("left", "right", "top", "bottom")


def _inset(name: str, value: Any, size: int, percent: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    if percent:
        value = int(size - (size * (100 - value) / 100))
    return int(value) // 8 * 8


@executor("Image Inset Crop (rgthree)")
def image_inset_crop(ctx: ExecContext, image: Any, measurement: Any, left: Any, right: Any, top: Any,
                     bottom: Any, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "image: expected an IMAGE [frames, height, width, channels]",
                             "connect an IMAGE output to 'image'")
    if measurement not in ("Pixels", "Percentage"):
        raise NodeInputError("measurement", f"measurement: expected 'Pixels' or 'Percentage', found {measurement!r}")
    height, width = int(image.shape[1]), int(image.shape[2])
    percent = measurement == "Percentage"
    values = dict(zip(_SIDES, (left, right, top, bottom)))
    sizes = {"left": width, "right": width, "top": height, "bottom": height}
    l, r, t, b = (_inset(name, values[name], sizes[name], percent) for name in _SIDES)
    if l == r == t == b == 0:
        return (image,)
    x0, x1, y0, y1 = l, width - r, t, height - b
    if y0 > y1:
        raise NodeInputError("top", f"top inset {t} and bottom inset {b} cross on an image {height} high "
                             f"(the pack's 'top ({y0}) exceeds bottom ({y1})')")
    if x0 > x1:
        raise NodeInputError("left", f"left inset {l} and right inset {r} cross on an image {width} wide "
                             f"(the pack's 'left ({x0}) exceeds right ({x1})')")
    return (image[:, y0:y1, x0:x1, :],)
