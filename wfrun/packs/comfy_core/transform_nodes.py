"""ComfyUI's image transforms used by the Wan templates: ResizeImageMaskNode (Resize
Image/Mask, ``comfy_extras/nodes_post_processing.py``) and ImagePadForOutpaint (``nodes.py``);
ResizeAndPadImage and ImageScaleToMaxDimension (``comfy_extras/nodes_images.py``).

ResizeImageMaskNode's ``resize_type`` is a DynamicCombo: the widgets of the chosen option
arrive named ``resize_type.width``, ``resize_type.crop``, … (``resize_type.match`` is a
socket). Its ``input`` is an IMAGE or a MASK and the output is of the same kind.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.media.image import UPSCALE_METHODS, common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.values import choice_input, describe, float_input, image_input, int_input

MAX_RESOLUTION = 16384
RESIZE_TYPES = ("scale dimensions", "scale by multiplier", "scale longer dimension", "scale shorter dimension",
                "scale width", "scale height", "scale total pixels", "match size", "scale to multiple")
CROPS = ("disabled", "center")


def _image_or_mask(value: Any, name: str) -> tuple[torch.Tensor, bool]:
    """[B, C, H, W] for resampling, and whether the value was an IMAGE (else a MASK)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.shape[0] > 0:
        if value.ndim == 4:
            return value.movedim(-1, 1), True
        if value.ndim == 3:
            return value.unsqueeze(1), False
        if value.ndim == 2:
            return value.unsqueeze(0).unsqueeze(1), False
    raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels] or a MASK "
                         f"[frames, height, width], found {describe(value)}")


def _back(samples: torch.Tensor, is_image: bool) -> torch.Tensor:
    return samples.movedim(1, -1) if is_image else samples.squeeze(1)


def _resample(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    if width < 1 or height < 1:
        raise NodeInputError("resize_type", f"the resized size would be {width}x{height}", "use a larger size")
    if width > MAX_RESOLUTION or height > MAX_RESOLUTION:
        raise NodeInputError("resize_type", f"the resized size would be {width}x{height}, over {MAX_RESOLUTION}")
    return common_upscale(samples, width, height, method, crop)


def _option(inputs: dict[str, Any], name: str) -> Any:
    key = f"resize_type.{name}"
    if key not in inputs:
        raise NodeInputError(key, f"'{key}' is not set", "set the widget (or save the workflow again in ComfyUI)")
    return inputs[key]


@executor("ResizeImageMaskNode")
def resize_image_mask(ctx: ExecContext, input: Any, resize_type: Any, scale_method: Any, **options: Any) -> tuple:
    samples, is_image = _image_or_mask(input, "input")
    kind = choice_input(resize_type, "resize_type", RESIZE_TYPES)
    method = choice_input(scale_method, "scale_method", UPSCALE_METHODS)
    height, width = samples.shape[-2], samples.shape[-1]

    def dimension(name: str) -> int:
        return int_input(_option(options, name), f"resize_type.{name}", 0, MAX_RESOLUTION)

    def crop_option() -> str:
        return choice_input(options.get("resize_type.crop", "center"), "resize_type.crop", CROPS)

    if kind in ("scale dimensions", "scale width", "scale height"):
        new_w = dimension("width") if kind != "scale height" else 0
        new_h = dimension("height") if kind != "scale width" else 0
        crop = crop_option() if kind == "scale dimensions" else "disabled"
        if new_w == 0 and new_h == 0:
            return (input,)
        if new_w == 0:
            new_w = max(1, round(width * new_h / height))
        elif new_h == 0:
            new_h = max(1, round(height * new_w / width))
        out = _resample(samples, new_w, new_h, method, crop)
    elif kind == "scale by multiplier":
        factor = float_input(_option(options, "multiplier"), "resize_type.multiplier", above=0.0)
        out = _resample(samples, round(width * factor), round(height * factor), method, "disabled")
    elif kind in ("scale longer dimension", "scale shorter dimension"):
        name = "longer_size" if kind == "scale longer dimension" else "shorter_size"
        size = dimension(name)
        longer = kind == "scale longer dimension"
        if height == width:
            new_w = new_h = size
        elif (height > width) == longer:
            new_w, new_h = round(width / height * size), size
        else:
            new_w, new_h = size, round(height / width * size)
        out = _resample(samples, new_w, new_h, method, "disabled")
    elif kind == "scale total pixels":
        megapixels = float_input(_option(options, "megapixels"), "resize_type.megapixels", above=0.0)
        factor = math.sqrt(int(megapixels * 1024 * 1024) / (width * height))
        out = _resample(samples, round(width * factor), round(height * factor), method, "disabled")
    elif kind == "match size":
        match, _ = _image_or_mask(_option(options, "match"), "resize_type.match")
        out = _resample(samples, match.shape[-1], match.shape[-2], method, crop_option())
    else:  # scale to multiple: cover the largest multiple-sized box, then centre-crop to it
        multiple = int_input(_option(options, "multiple"), "resize_type.multiple", 1, MAX_RESOLUTION)
        target_w, target_h = width // multiple * multiple, height // multiple * multiple
        if multiple <= 1 or target_w == 0 or target_h == 0 or (target_w, target_h) == (width, height):
            return (input,)
        if target_w / width >= target_h / height:
            scaled_w, scaled_h = target_w, max(target_h, math.ceil(height * target_w / width))
        else:
            scaled_w, scaled_h = max(target_w, math.ceil(width * target_h / height)), target_h
        out = _resample(samples, scaled_w, scaled_h, method, "disabled")
        x0, y0 = (scaled_w - target_w) // 2, (scaled_h - target_h) // 2
        out = out[..., y0:y0 + target_h, x0:x0 + target_w]
    return (_back(out, is_image),)


def outpaint_feather(height: int, width: int, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> torch.Tensor:
    """ComfyUI's mask over the original pixels: ``((f - d) / f)²`` within ``f`` pixels of a
    padded side (``d``: distance to the nearest padded side), else 0; only when ``2f`` is
    below both sides."""
    t = torch.zeros((height, width), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        i = torch.arange(height, dtype=torch.float32).view(-1, 1).expand(height, width)
        j = torch.arange(width, dtype=torch.float32).view(1, -1).expand(height, width)
        far_h = torch.full_like(i, float(height))
        far_w = torch.full_like(j, float(width))
        d = torch.minimum(torch.minimum(i if top else far_h, (height - i) if bottom else far_h),
                          torch.minimum(j if left else far_w, (width - j) if right else far_w))
        v = (feathering - d) / feathering
        t = torch.where(d < feathering, v * v, t)
    return t


@executor("ImagePadForOutpaint")
def image_pad_for_outpaint(ctx: ExecContext, image: Any, left: Any, top: Any, right: Any, bottom: Any,
                           feathering: Any, **_: Any) -> tuple:
    """The image on a grey (0.5) canvas grown by the given sides, and a MASK [1, H, W]: 1 on
    the new area, the feathered ramp inside the original."""
    image = image_input(image, "image")
    left, top, right, bottom = (int_input(v, n, 0, MAX_RESOLUTION) for v, n in
                                ((left, "left"), (top, "top"), (right, "right"), (bottom, "bottom")))
    feathering = int_input(feathering, "feathering", 0, MAX_RESOLUTION)
    frames, height, width, channels = image.shape
    new_image = torch.full((frames, height + top + bottom, width + left + right, channels), 0.5,
                           dtype=torch.float32)
    new_image[:, top:top + height, left:left + width, :] = image
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    mask[top:top + height, left:left + width] = outpaint_feather(height, width, left, top, right, bottom, feathering)
    return new_image, mask.unsqueeze(0)


@executor("ResizeAndPadImage")
def resize_and_pad_image(ctx: ExecContext, image: Any, target_width: Any, target_height: Any, padding_color: Any,
                         interpolation: Any, **_: Any) -> tuple:
    """Fit the image inside ``target_width`` x ``target_height`` keeping its aspect ratio
    (scale ``min(tw / w, th / h)``, each side truncated with ``int``), then centre it on a
    canvas of that size filled with 0 (black) or 1 (white), offsets ``(t - new) // 2``."""
    image = image_input(image, "image")
    target_width = int_input(target_width, "target_width", 1, MAX_RESOLUTION)
    target_height = int_input(target_height, "target_height", 1, MAX_RESOLUTION)
    padding_color = choice_input(padding_color, "padding_color", ("white", "black"))
    interpolation = choice_input(interpolation, "interpolation", ("area", "bicubic", "nearest-exact", "bilinear",
                                                                  "lanczos"))
    batch, height, width, channels = image.shape
    scale = min(target_width / width, target_height / height)
    new_w, new_h = int(width * scale), int(height * scale)
    if new_w < 1 or new_h < 1:
        raise NodeInputError("image", f"a {width}x{height} image fitted into {target_width}x{target_height} "
                             f"would be {new_w}x{new_h}", "use a target closer to the image's aspect ratio")
    resized = common_upscale(image.movedim(-1, 1), new_w, new_h, interpolation, "disabled")
    padded = torch.full((batch, channels, target_height, target_width), 0.0 if padding_color == "black" else 1.0,
                        dtype=image.dtype, device=image.device)
    y, x = (target_height - new_h) // 2, (target_width - new_w) // 2
    padded[:, :, y:y + new_h, x:x + new_w] = resized
    return (padded.movedim(1, -1),)


@executor("ImageScaleToMaxDimension")
def image_scale_to_max_dimension(ctx: ExecContext, image: Any, upscale_method: Any, largest_size: Any,
                                 **_: Any) -> tuple:
    """Scale so the longer side is ``largest_size`` (a square gets it on both sides), the
    other side ``round(side / longer * largest_size)``, no crop."""
    image = image_input(image, "image")
    method = choice_input(upscale_method, "upscale_method", ("area", "lanczos", "bilinear", "nearest-exact",
                                                               "bicubic"))
    size = int_input(largest_size, "largest_size", 0, MAX_RESOLUTION)
    height, width = image.shape[1], image.shape[2]
    if height > width:
        width, height = round(width / height * size), size
    elif width > height:
        width, height = size, round(height / width * size)
    else:
        width = height = size
    if width < 1 or height < 1:
        raise NodeInputError("largest_size", f"largest_size {size} would make the image {width}x{height}",
                             "use a larger largest_size")
    return (common_upscale(image.movedim(-1, 1), width, height, method, "disabled").movedim(1, -1),)
