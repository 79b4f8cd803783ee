"""The toolkit's three nodes, as its ``nodes.py``:

- ``Width and height for scaling image to ideal resolution 🪴``: the image scaled to about
  ``target_size²`` pixels, aspect kept, each side rounded to a multiple of ``multiple_of``;
- ``Width and height from aspect ratio 🪴``: the same for an ``a:b`` ratio;
- ``Incrementer 🪴``: ``current_index`` wrapped to ``0..max`` (``max`` 0: unchanged).

Python's ``round`` (half to even), as the pack.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _scaled(w: int, h: int, target_size: int, multiple_of: int) -> tuple[int, int]:
    if w <= 0 or h <= 0 or multiple_of < 1:
        raise NodeInputError("multiple_of", f"cannot scale {w}x{h} to multiples of {multiple_of}")
    scale = (target_size ** 2 / (w * h)) ** 0.5
    return round(w * scale / multiple_of) * multiple_of, round(h * scale / multiple_of) * multiple_of


@executor("Width and height for scaling image to ideal resolution 🪴")
def width_height_for_image(ctx: ExecContext, image: Any, target_size: int, multiple_of: int, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]")
    return _scaled(int(image.shape[2]), int(image.shape[1]), int(target_size), int(multiple_of))


@executor("Width and height from aspect ratio 🪴")
def width_height_from_ratio(ctx: ExecContext, aspect_ratio: str, target_size: int, multiple_of: int,
                            **_: Any) -> tuple:
    try:
        w, h = (int(v) for v in str(aspect_ratio).split(":"))
    except ValueError:
        raise NodeInputError("aspect_ratio", f"{aspect_ratio!r} is not a ratio like 16:9") from None
    return _scaled(w, h, int(target_size), int(multiple_of))


@executor("Incrementer 🪴")
def incrementer(ctx: ExecContext, current_index: int, max: int, **_: Any) -> tuple:  # noqa: A002 (the input name)
    return (int(current_index) if int(max) == 0 else int(current_index) % (int(max) + 1),)
