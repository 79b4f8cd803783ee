"""LayerStyle's ``LayerUtility: ImageScaleByAspectRatio V2``
(``py/image_scale_by_aspect_ratio_v2.py`` at 42ccdd8f, with ``py/imagefunc.py``'s helpers).

The target size: the ratio is the image's own (``original``), ``proportional_width /
proportional_height`` (``custom``) or the named one; then ``scale_to_side`` fixes one side at
``scale_to_length`` and the other follows by the ratio, truncated to a whole number
(``longest``/``shortest`` mean width or height by whether the ratio is above 1;
``total_pixel(kilo pixel)``: ``width = sqrt(ratio * length * 1000)``, height = width / ratio,
both truncated; ``None``: the image's width (ratio above 1) or height kept). Both sides are
then rounded *up* to ``round_to_multiple`` unless it is ``None``.

Each frame goes through Pillow as in the pack: to 8 bits by truncation (``uint8`` of
``255 * x`` clipped), RGB, then fitted — ``letterbox``: scaled to fit inside and centred on
``background_color``; ``crop``: the centre cut to the target's aspect, then scaled;
``fill``: stretched — with the named Pillow filter, and back to 0..1 floats. A mask goes
the same way in grey (letterbox bars black). An all-zero 64x64 mask (ComfyUI's stand-in
for "no mask") is ignored, as in the pack.

Outputs: image, mask (None without one, as the pack), original size ``[width, height]``,
width, height. Where the pack logs an error and returns nothing (no image and no mask, or
a mask of another size than the image), wfrun raises the error on the node.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageColor

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

RATIOS = ("original", "custom", "1:1", "3:2", "4:3", "16:9", "2:3", "3:4", "9:16")
FITS = ("letterbox", "crop", "fill")
FILTERS = {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC, "hamming": Image.HAMMING,
           "bilinear": Image.BILINEAR, "box": Image.BOX, "nearest": Image.NEAREST}
SIDES = ("None", "longest", "shortest", "width", "height", "total_pixel(kilo pixel)")
#: Largest side wfrun makes (the pack allows 1e8; a bound on untrusted files).
MAX_SIDE = 16384


def _to_pil(frame: torch.Tensor) -> Image.Image:
    return Image.fromarray(np.clip(255.0 * frame.detach().cpu().float().numpy().squeeze(), 0, 255).astype(np.uint8))


def _from_pil(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image).astype(np.float32) / 255.0)


def round_up(number: int, multiple: int) -> int:
    return number if number % multiple == 0 else (number + multiple - 1) // multiple * multiple


def target_size(ratio: float, side: str, length: int, width: int, height: int) -> tuple[int, int]:
    """(width, height) by the pack's rules before rounding to a multiple."""
    if side == "total_pixel(kilo pixel)":
        w = math.sqrt(ratio * length * 1000)
        return int(w), int(w / ratio)
    if side == "width" or (side == "longest" and ratio > 1) or (side == "shortest" and ratio <= 1):
        return length, int(length / ratio)
    if side in ("height", "longest", "shortest"):
        return int(length * ratio), length
    return (width, int(width / ratio)) if ratio > 1 else (int(height * ratio), height)


def fit_image(image: Image.Image, width: int, height: int, fit: str, sampler: int, background: str) -> Image.Image:
    """``imagefunc.fit_resize_image``: the image (as RGB) fitted to ``width`` x ``height``."""
    image = image.convert("RGB")
    w, h = image.size
    if fit == "letterbox":
        if w / h > width / height:
            fw, fh = width, int(width / w * h)
        else:
            fw, fh = int(height / h * w), height
        out = Image.new("RGB", (width, height), color=background)
        out.paste(image.resize((fw, fh), sampler), box=((width - fw) // 2, (height - fh) // 2))
        return out
    if fit == "crop":
        if w / h > width / height:
            cw = int(h * width / height)
            image = image.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
        else:
            ch = int(w * height / width)
            image = image.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
    return image.resize((width, height), sampler)


def _choice(value: Any, name: str, options: Any) -> Any:
    if value not in options:
        raise NodeInputError(name, f"{value!r} is not one of {', '.join(options)}")
    return value


@executor("LayerUtility: ImageScaleByAspectRatio V2")
def image_scale_by_aspect_ratio_v2(ctx: ExecContext, aspect_ratio: Any, proportional_width: Any,
                                   proportional_height: Any, fit: Any, method: Any, round_to_multiple: Any,
                                   scale_to_side: Any, scale_to_length: Any, background_color: Any,
                                   image: Any = None, mask: Any = None, **_: Any) -> tuple:
    _choice(aspect_ratio, "aspect_ratio", RATIOS)
    _choice(fit, "fit", FITS)
    _choice(method, "method", FILTERS)
    _choice(scale_to_side, "scale_to_side", SIDES)
    multiples = ("8", "16", "32", "64", "128", "256", "512", "None")
    _choice(str(round_to_multiple), "round_to_multiple", multiples)
    try:
        ImageColor.getrgb(str(background_color))
    except ValueError:
        raise NodeInputError("background_color", f"{background_color!r} is not a colour",
                             "write a colour such as #000000") from None
    if image is not None and (not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] == 0):
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, channels]")
    masks: list[torch.Tensor] = []
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
            raise NodeInputError("mask", "expected a MASK [frames, height, width]")
        mask = mask.unsqueeze(0) if mask.ndim == 2 else mask
        masks = [m for m in mask if not (not bool(m.any()) and tuple(m.shape) == (64, 64))]
    width = height = 0
    if image is not None:
        height, width = int(image.shape[1]), int(image.shape[2])
    if masks:
        mh, mw = masks[0].shape
        if image is not None and (mw, mh) != (width, height):
            raise NodeInputError("mask", f"the mask is {mw}x{mh} but the image {width}x{height}",
                                 "give a mask of the image's size")
        width, height = width or int(mw), height or int(mh)
    if width + height == 0:
        raise NodeInputError("image", "neither an image nor a mask is connected", "connect an image or a mask")
    if aspect_ratio == "original":
        ratio = width / height
    elif aspect_ratio == "custom":
        ratio = int(proportional_width) / int(proportional_height)
    else:
        a, b = aspect_ratio.split(":")
        ratio = int(a) / int(b)
    tw, th = target_size(ratio, scale_to_side, int(scale_to_length), width, height)
    if round_to_multiple != "None":
        tw, th = round_up(tw, int(round_to_multiple)), round_up(th, int(round_to_multiple))
    if not (1 <= tw <= MAX_SIDE and 1 <= th <= MAX_SIDE):
        raise NodeInputError("scale_to_length", f"the target size {tw}x{th} is outside 1..{MAX_SIDE}")
    sampler = FILTERS[method]
    images_out = None
    if image is not None:
        frames = []
        for frame in image:
            ctx.check_interrupt()
            frames.append(_from_pil(fit_image(_to_pil(frame), tw, th, fit, sampler, str(background_color))))
        images_out = torch.stack(frames)
    masks_out = None
    if masks:
        masks_out = torch.stack([_from_pil(fit_image(_to_pil(m).convert("L"), tw, th, fit, sampler, "#000000")
                                           .convert("L")) for m in masks])
    return images_out, masks_out, [width, height], tw, th
