"""``OlmDragCrop``: crop an IMAGE (and MASK) to the rectangle the user dragged on the node,
as olm_dragcrop.py does (read at c38fc32, 2025-08-13, and in a later copy with the
``CROP_JSON`` output that files saved at 5e286e8 show; the crop itself is the same in both).

The rectangle is the saved widgets ``crop_left``, ``crop_top``, ``crop_width`` and
``crop_height`` (``crop_right``/``crop_bottom`` are only reported back). It holds only for
the image size it was drawn on, ``last_width`` x ``last_height``: an image of another size,
or a rectangle reaching outside the image (or of no size), is not cropped at all (the pack
then resets the rectangle in the browser). The mask: none (or empty) gives zeros of the
crop's size; a [B, 1, H, W] or [H, W] mask is brought to [B, H, W]; a mask batch of
another length is repeated or cut to the image's; the rectangle is cut to the mask's size
and laid top-left into zeros of the crop's size. ``CROP_JSON``: the rectangle as used,
``right``/``bottom`` as saved (0 after a reset), the image and crop sizes and whether the
rectangle was reset.

Not done: the pack writes the first frame as a preview PNG into ComfyUI's temp folder for
its editor; wfrun has no editor to feed. The widgets the pack's frontend adds (snap, aspect
ratio, colour, buttons) are saved with the node but never reach its Python code, so they
are ignored here too.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def crop_rectangle(width: int, height: int, left: int, right: int, top: int, bottom: int, crop_width: int,
                   crop_height: int, last_width: int, last_height: int) -> tuple[dict, bool]:
    """The rectangle the pack crops (left, top, width, height, right, bottom as reported)
    and whether it fell back to the whole image."""
    whole = {"left": 0, "top": 0, "right": 0, "bottom": 0, "width": width, "height": height}
    if width != last_width or height != last_height:
        return whole, True
    if left < 0 or top < 0 or left + crop_width > width or top + crop_height > height or crop_width <= 0 \
            or crop_height <= 0:
        return whole, True
    return {"left": left, "top": top, "right": right, "bottom": bottom, "width": crop_width, "height": crop_height}, False


def crop_mask(mask: Any, batch: int, r: dict) -> torch.Tensor:
    zeros = torch.zeros((batch, r["height"], r["width"]), dtype=torch.float32)
    if not isinstance(mask, torch.Tensor) or mask.numel() == 0:
        return zeros
    m = mask
    if m.dim() == 4 and m.shape[1] == 1:
        m = m.squeeze(1)
    elif m.dim() == 2:
        m = m.unsqueeze(0)
    if m.dim() != 3:
        return zeros
    if m.shape[0] != batch:
        if m.shape[0] == 1 and batch > 1:
            m = m.repeat(batch, 1, 1)
        elif m.shape[0] > batch:
            m = m[:batch]
        else:
            m = m.repeat(math.ceil(batch / m.shape[0]), 1, 1)[:batch]
    mh, mw = m.shape[1], m.shape[2]
    cl, cr = max(0, min(r["left"], mw)), max(0, min(r["left"] + r["width"], mw))
    ct, cb = max(0, min(r["top"], mh)), max(0, min(r["top"] + r["height"], mh))
    if cr <= cl or cb <= ct:
        return zeros
    region = m[:, ct:cb, cl:cr]
    zeros[:, :region.shape[1], :region.shape[2]] = region.to(torch.float32).cpu()
    return zeros.to(mask.device)


@executor("OlmDragCrop")
def olm_drag_crop(ctx: ExecContext, image: Any, crop_left: int, crop_right: int, crop_top: int, crop_bottom: int,
                  crop_width: int, crop_height: int, last_width: int, last_height: int, mask: Any = None,
                  **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE batch [frames, height, width, channels]")
    batch, height, width = image.shape[0], image.shape[1], image.shape[2]
    r, reset = crop_rectangle(width, height, int(crop_left), int(crop_right), int(crop_top), int(crop_bottom),
                              int(crop_width), int(crop_height), int(last_width), int(last_height))
    cropped = image[:, r["top"]:r["top"] + r["height"], r["left"]:r["left"] + r["width"], :]
    info = {**r, "original_size": [width, height], "cropped_size": [r["width"], r["height"]], "reset_crop_ui": reset}
    # the pack's key order: left, top, right, bottom, width, height, ...
    info = {k: info[k] for k in ("left", "top", "right", "bottom", "width", "height", "original_size",
                                 "cropped_size", "reset_crop_ui")}
    return cropped, crop_mask(mask, batch, r), json.dumps(info)
