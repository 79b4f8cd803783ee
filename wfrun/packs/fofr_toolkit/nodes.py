"""fofr's toolkit (``node.py``): sizes near a target pixel count, and an incrementer.

Both size nodes scale a ``w:h`` shape so that its area is ``target_size²`` and round each
side to a multiple of ``multiple_of`` with Python's ``round`` (halves to even), as the pack
does. "For scaling image to ideal resolution" takes the shape from the image's height and
width (its first frame's, as IMAGE batches share one size).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def ideal_size(w: int, h: int, target_size: int, multiple_of: int) -> tuple[int, int]:
    """(width, height) of the ``w:h`` shape with area ``target_size²``, sides rounded to
    multiples of ``multiple_of``."""
    if multiple_of < 1:
        raise NodeInputError("multiple_of", f"multiple_of is {multiple_of}; it must be at least 1")
    scale = math.sqrt(target_size ** 2 / (w * h))
    return round(w * scale / multiple_of) * multiple_of, round(h * scale / multiple_of) * multiple_of


@executor("Width and height for scaling image to ideal resolution 🪴")
def size_for_image(ctx: ExecContext, image: Any, target_size: int, multiple_of: int, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[1] < 1 or image.shape[2] < 1:
        raise NodeInputError("image", f"expected an IMAGE batch, got {getattr(image, 'shape', type(image).__name__)}")
    return ideal_size(int(image.shape[2]), int(image.shape[1]), int(target_size), int(multiple_of))


@executor("Width and height from aspect ratio 🪴")
def size_for_ratio(ctx: ExecContext, aspect_ratio: str, target_size: int, multiple_of: int, **_: Any) -> tuple:
    try:
        w, h = (int(p) for p in str(aspect_ratio).split(":"))
    except ValueError:
        raise NodeInputError("aspect_ratio", f"expected a ratio such as 16:9, found {aspect_ratio!r}") from None
    if w < 1 or h < 1:
        raise NodeInputError("aspect_ratio", f"both sides of {aspect_ratio!r} must be positive")
    return ideal_size(w, h, int(target_size), int(multiple_of))


@executor("Incrementer 🪴", volatile=True)
def incrementer(ctx: ExecContext, current_index: int, max: int, **_: Any) -> tuple:  # noqa: A002 (the pack's name)
    """The index as is, or wrapped into 0 … ``max`` when ``max`` is set (the frontend's
    control_after_generate advances it between queued runs; wfrun runs once)."""
    return (int(current_index) if int(max) == 0 else int(current_index) % (int(max) + 1),)
