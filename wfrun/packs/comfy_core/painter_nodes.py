"""ComfyUI's Painter (``comfy_extras/nodes_painter.py``): a drawing made in the frontend's
canvas over an image, or over a plain background, and its coverage as a MASK.

The frontend saves the drawing as a PNG with transparency in the input folder and the node's
``mask`` widget names it. The node returns:

- **IMAGE**: the drawing's colours laid over the base by its alpha — the first frame of
  ``image`` when connected, else a ``width`` x ``height`` canvas of ``bg_color`` (``#rrggbb``;
  anything else is black, as in ComfyUI);
- **MASK**: the drawing's alpha ``[1, h, w]``; the drawing is resized (Lanczos) to the base
  when its size differs.

With no drawing (``mask`` empty) the IMAGE is the base and the MASK zeros — what the
InfiniteTalk template's Painter nodes give until someone paints on them. Differences: none
intended (a base that is not RGB is refused under a drawing, where ComfyUI's blend fails).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file
from wfrun.packs.comfy_core.values import image_input


def _drawing_file(inputs: dict) -> dict:
    """The drawing the node will read, when it names one (checked before models load)."""
    name = inputs.get("mask")
    return {"mask": (name, "image")} if isinstance(name, str) and name.strip() else {}


def hex_colour(text: Any) -> tuple[float, float, float]:
    """``#rrggbb`` as 0..1 floats; any other text is black (ComfyUI's ``hex_to_rgb``)."""
    digits = str(text or "").lstrip("#")
    if len(digits) != 6:
        return (0.0, 0.0, 0.0)
    try:
        return tuple(int(digits[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        raise NodeInputError("bg_color", f"{text!r} is not a #rrggbb colour") from None


def read_drawing(path: Any, width: int, height: int) -> np.ndarray:
    """The drawing as RGBA floats [h, w, 4], resized (Lanczos) to ``width`` x ``height``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgba = img.convert("RGBA")
    except (OSError, UnidentifiedImageError) as err:
        raise NodeInputError("mask", f"cannot read the drawing {path}: {err}", "save the drawing as a PNG") from None
    if rgba.size != (width, height):
        rgba = rgba.resize((width, height), Image.LANCZOS)
    return np.asarray(rgba).astype(np.float32) / 255.0


@executor("Painter", volatile=True, input_files=_drawing_file)
def painter(ctx: ExecContext, mask: str, width: int, height: int, bg_color: str,
            image: Any = None, **_: Any) -> tuple:
    if image is not None:
        base = image_input(image, "image")[:1].float()
        h, w = base.shape[1], base.shape[2]
    else:
        h, w = int(height), int(width)
        base = torch.tensor(hex_colour(bg_color), dtype=torch.float32).expand(1, h, w, 3).clone()
    if not (isinstance(mask, str) and mask.strip()):
        return base, torch.zeros(1, h, w, dtype=torch.float32)
    if base.shape[-1] != 3:
        raise NodeInputError("image", f"a base image of {base.shape[-1]} channels; the drawing is laid over RGB",
                             "convert the image to RGB")
    drawing = torch.from_numpy(read_drawing(input_file(ctx, mask, "mask", "image"), w, h))
    alpha = drawing[..., 3:4]
    out = drawing[..., :3] * alpha + base[0] * (1.0 - alpha)
    return out.unsqueeze(0), drawing[..., 3].unsqueeze(0).clone()
