"""ImageResize+ (``image.py`` of ComfyUI_essentials).

* ``multiple_of`` first rounds the *asked* width/height down to a multiple;
* stretch: exactly the asked size (0 keeps the original side);
* keep proportion / pad: fit inside the asked box (a 0 side is unbounded when the image is
  smaller than the other side, else the original side); pad then centres it on black;
* fill / crop: cover the box, then cut the centre to the box;
* ``condition`` may skip the resize (downscale if bigger, upscale if smaller, by area);
* finally a result that is still not a multiple is centre-cropped to one, and values are
  clamped to 0..1.

Older signatures (``keep_proportion`` boolean) are accepted as the pack's code accepts them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.media.image import lanczos

#: torch interpolate modes the node offers besides lanczos (which goes through Pillow).
INTERPOLATIONS = frozenset({"nearest", "bilinear", "bicubic", "area", "nearest-exact"})

MAX_RESOLUTION = 16384


@executor("ImageResize+")
def image_resize_plus(ctx: ExecContext, image: torch.Tensor, width: int, height: int, *, method: str = "stretch",
                      interpolation: str = "nearest", condition: str = "always", multiple_of: int,
                      keep_proportion: bool = False, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]")
    _, oh, ow, _ = image.shape
    x = y = x2 = y2 = 0
    pad_left = pad_right = pad_top = pad_bottom = 0
    if keep_proportion:
        method = "keep proportion"
    if multiple_of > 1:
        width -= width % multiple_of
        height -= height % multiple_of

    if method in ("keep proportion", "pad"):
        if width == 0:
            width = MAX_RESOLUTION if oh < height else ow
        if height == 0:
            height = MAX_RESOLUTION if ow < width else oh
        ratio = min(width / ow, height / oh)
        new_w, new_h = round(ow * ratio), round(oh * ratio)
        if method == "pad":
            pad_left = (width - new_w) // 2
            pad_right = width - new_w - pad_left
            pad_top = (height - new_h) // 2
            pad_bottom = height - new_h - pad_top
        width, height = new_w, new_h
    elif method.startswith("fill"):
        width = width if width > 0 else ow
        height = height if height > 0 else oh
        ratio = max(width / ow, height / oh)
        new_w, new_h = round(ow * ratio), round(oh * ratio)
        x, y = (new_w - width) // 2, (new_h - height) // 2
        x2, y2 = x + width, y + height
        if x2 > new_w:
            x -= x2 - new_w
        if x < 0:
            x = 0
        if y2 > new_h:
            y -= y2 - new_h
        if y < 0:
            y = 0
        width, height = new_w, new_h
    else:
        width = width if width > 0 else ow
        height = height if height > 0 else oh

    if width <= 0 or height <= 0:
        raise NodeInputError("width", f"the resized image would be {width}x{height}", "use a larger size")
    resize = ("always" in condition
              or (condition == "downscale if bigger" and (oh > height or ow > width))
              or (condition == "upscale if smaller" and (oh < height or ow < width))
              or ("bigger area" in condition and oh * ow > height * width)
              or ("smaller area" in condition and oh * ow < height * width))
    if resize:
        out = image.permute(0, 3, 1, 2)
        if interpolation == "lanczos":
            out = lanczos(out, width, height)
        else:
            if interpolation not in INTERPOLATIONS:
                raise NodeInputError("interpolation", f"unknown interpolation {interpolation!r}",
                                     f"use one of {', '.join(sorted(INTERPOLATIONS | {'lanczos'}))}")
            out = F.interpolate(out, size=(height, width), mode=interpolation)
        if method == "pad" and (pad_left > 0 or pad_right > 0 or pad_top > 0 or pad_bottom > 0):
            out = F.pad(out, (pad_left, pad_right, pad_top, pad_bottom), value=0)
        out = out.permute(0, 2, 3, 1)
        if method.startswith("fill") and (x > 0 or y > 0 or x2 > 0 or y2 > 0):
            out = out[:, y:y2, x:x2, :]
    else:
        out = image

    if multiple_of > 1 and (out.shape[2] % multiple_of != 0 or out.shape[1] % multiple_of != 0):
        w, h = out.shape[2], out.shape[1]
        x, y = (w % multiple_of) // 2, (h % multiple_of) // 2
        x2, y2 = w - ((w % multiple_of) - x), h - ((h % multiple_of) - y)
        out = out[:, y:y2, x:x2, :]
    out = torch.clamp(out, 0, 1)
    return out, out.shape[2], out.shape[1]
