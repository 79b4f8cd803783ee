"""Image nodes of ComfyUI's ``comfy_extras/nodes_dataset.py`` that Wan workflows use:
ResizeImagesByLongerEdge (deprecated upstream in favour of ImageScaleToMaxDimension, still
in saved files) and AdjustContrast.

Both take an IMAGE batch and give one back (they are not list nodes). The resize goes
through Pillow as ComfyUI does: each frame to 8 bits (``clip(255·x)`` truncated), LANCZOS,
back to 0..1, so its output holds 8-bit values whatever the input held.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.media.image import to_uint8
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.values import float_input, image_input, int_input

#: the widest side ResizeImagesByLongerEdge's widget allows
MAX_EDGE = 8192


def longer_edge_size(width: int, height: int, longer_edge: int) -> tuple[int, int]:
    """The new (width, height): the longer side becomes ``longer_edge`` (the height when the
    sides are equal), the other scales with it and is truncated, as ``int()`` does."""
    if width > height:
        return longer_edge, int(height * (longer_edge / width))
    return int(width * (longer_edge / height)), longer_edge


@executor("ResizeImagesByLongerEdge")
def resize_images_by_longer_edge(ctx: ExecContext, images: Any, longer_edge: Any, **_: Any) -> tuple:
    """Each frame resized with Pillow's LANCZOS so its longer side is ``longer_edge``."""
    from PIL import Image

    images = image_input(images, "images")
    longer_edge = int_input(longer_edge, "longer_edge", 1, MAX_EDGE)
    if images.shape[-1] not in (3, 4):
        raise NodeInputError("images", f"images have {images.shape[-1]} channels; Pillow resizes RGB or RGBA",
                             "connect an RGB or RGBA IMAGE")
    height, width = images.shape[1], images.shape[2]
    new_w, new_h = longer_edge_size(width, height, longer_edge)
    if new_w < 1 or new_h < 1:
        raise NodeInputError("longer_edge", f"{width}x{height} with its longer side at {longer_edge} would be "
                             f"{new_w}x{new_h}", "use a larger longer_edge")
    out = []
    for frame in images:
        ctx.check_interrupt()
        resized = Image.fromarray(to_uint8(frame)).resize((new_w, new_h), Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.asarray(resized).astype(np.float32) / 255.0))
    return (torch.stack(out),)


@executor("AdjustContrast")
def adjust_contrast(ctx: ExecContext, images: Any, factor: Any, **_: Any) -> tuple:
    """``(x - 0.5) · factor + 0.5``, clamped to 0..1 (every channel, alpha included)."""
    images = image_input(images, "images")
    factor = float_input(factor, "factor", 0.0, 2.0)
    return (((images - 0.5) * factor + 0.5).clamp(0.0, 1.0),)
