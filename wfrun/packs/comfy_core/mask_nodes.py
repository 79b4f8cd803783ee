"""ComfyUI's mask nodes (``comfy_extras/nodes_mask.py``) that Wan templates use: MaskToImage,
ImageToMask, SolidMask, InvertMask, GrowMask, MaskComposite, ImageCompositeMasked and
MaskPreview; ImageColorToMask, CropMask, FeatherMask and ThresholdMask.

ImageColorToMask marks the pixels whose 0..255 RGB (rounded) packs to ``color`` (``R << 16 |
G << 8 | B``). CropMask cuts ``width`` x ``height`` from ``x``, ``y`` (clipped at the edges).
ThresholdMask is ``mask > value``. FeatherMask multiplies the ``left`` first columns by
``(i + 1) / left`` and the ``top`` first rows likewise; for ``right`` and ``bottom`` it takes
ComfyUI's index ``-i``, so its ``i = 0`` ramp step lands on the first column (row) instead
of the last, and the last is left whole: kept, as it is what ComfyUI gives.

A MASK is ``[frames, height, width]``; a ``[height, width]`` mask is taken as one frame, as
ComfyUI's nodes reshape it. ImageCompositeMasked evens out channel counts the way ComfyUI's
current ``image_alpha_fix`` does (a 3-channel source under a 4-channel destination gains an
opaque alpha; a 4-channel source over 3 channels loses its alpha).
"""

from __future__ import annotations

import random
import string
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import save_images, temp_dir
from wfrun.packs.comfy_core.values import (choice_input, float_input, image_input, int_input, mask_input)

CHANNELS = ("red", "green", "blue", "alpha")
#: ComfyUI's MAX_RESOLUTION: the largest size its widgets allow.
MAX_RESOLUTION = 16384


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    return mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)


@executor("MaskToImage")
def mask_to_image_node(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    """Grey IMAGE [frames, height, width, 3] with the mask in every channel."""
    return (mask_to_image(mask_input(mask, "mask")),)


@executor("ImageToMask")
def image_to_mask(ctx: ExecContext, image: Any, channel: Any, **_: Any) -> tuple:
    image = image_input(image, "image")
    index = CHANNELS.index(choice_input(channel, "channel", CHANNELS))
    if index >= image.shape[-1]:
        raise NodeInputError("channel", f"channel {channel!r}: the image has only {image.shape[-1]} channels",
                             "choose red, green or blue, or connect an image with alpha")
    return (image[:, :, :, index],)


@executor("SolidMask")
def solid_mask(ctx: ExecContext, value: Any, width: Any, height: Any, **_: Any) -> tuple:
    value = float_input(value, "value")
    width = int_input(width, "width", 1, MAX_RESOLUTION)
    height = int_input(height, "height", 1, MAX_RESOLUTION)
    return (torch.full((1, height, width), value, dtype=torch.float32),)


@executor("InvertMask")
def invert_mask(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    return (1.0 - mask_input(mask, "mask"),)


def grow_kernel(tapered_corners: bool) -> np.ndarray:
    """ComfyUI's 3x3 footprint: a cross when tapered (corners 0), else the full square."""
    c = 0 if tapered_corners else 1
    return np.array([[c, 1, c], [1, 1, 1], [c, 1, c]])


@executor("GrowMask")
def grow_mask(ctx: ExecContext, mask: Any, expand: Any, tapered_corners: Any, **_: Any) -> tuple:
    """``|expand|`` grey dilations (erosions when negative) with the 3x3 footprint, per frame,
    as ComfyUI does with scipy.ndimage (borders reflected)."""
    import scipy.ndimage

    mask = mask_input(mask, "mask")
    expand = int_input(expand, "expand", -MAX_RESOLUTION, MAX_RESOLUTION)
    kernel = grow_kernel(bool(tapered_corners))
    operation = scipy.ndimage.grey_erosion if expand < 0 else scipy.ndimage.grey_dilation
    # beyond the mask's size every further step changes nothing: stop there, not after 16384
    steps = min(abs(expand), mask.shape[-1] + mask.shape[-2])
    out = []
    for frame in mask:
        ctx.check_interrupt()
        array = frame.detach().float().cpu().numpy()
        for _ in range(steps):
            grown = operation(array, footprint=kernel)
            if np.array_equal(grown, array):
                break
            array = grown
        out.append(torch.from_numpy(np.ascontiguousarray(array)))
    return (torch.stack(out, dim=0),)


MASK_OPERATIONS = ("multiply", "add", "subtract", "and", "or", "xor")


@executor("MaskComposite")
def mask_composite(ctx: ExecContext, destination: Any, source: Any, x: Any, y: Any, operation: Any,
                   **_: Any) -> tuple:
    """``source`` combined into ``destination`` with its top-left corner at (x, y), over the
    part of it that falls inside ``destination``; the whole result is clamped to 0..1.

    ``and``/``or``/``xor`` work on masks rounded to 0/1 and give 0/1 (torch's rounding: 0.5
    goes to 0). Frames pair one to one, or a one-frame source meets every destination frame;
    a source of several frames over a destination of another count is refused (ComfyUI
    fails on it). An offset past the destination's edge changes nothing (ComfyUI: nothing,
    or an error when the source is wider than that gap).
    """
    output = mask_input(destination, "destination").clone().float()
    source = mask_input(source, "source").float()
    x = int_input(x, "x", 0, MAX_RESOLUTION)
    y = int_input(y, "y", 0, MAX_RESOLUTION)
    operation = choice_input(operation, "operation", MASK_OPERATIONS)
    if source.shape[0] not in (1, output.shape[0]):
        raise NodeInputError("source", f"source has {source.shape[0]} frames, destination {output.shape[0]}",
                             "give the source one frame, or as many frames as the destination")
    right = min(x + source.shape[-1], output.shape[-1])
    bottom = min(y + source.shape[-2], output.shape[-2])
    if right > x and bottom > y:
        here = output[:, y:bottom, x:right]
        there = source[:, :bottom - y, :right - x]
        if operation == "multiply":
            combined = here * there
        elif operation == "add":
            combined = here + there
        elif operation == "subtract":
            combined = here - there
        else:
            a, b = here.round().bool(), there.round().bool()
            combined = (a & b if operation == "and" else a | b if operation == "or" else a ^ b).float()
        output[:, y:bottom, x:right] = combined
    return (output.clamp(0.0, 1.0),)


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``comfy.utils.repeat_to_batch_size``: cut or tile along the first axis."""
    if tensor.shape[0] > batch_size:
        return tensor[:batch_size]
    if tensor.shape[0] < batch_size:
        repeats = [-(-batch_size // tensor.shape[0])] + [1] * (tensor.ndim - 1)
        return tensor.repeat(repeats)[:batch_size]
    return tensor


def composite(destination: torch.Tensor, source: torch.Tensor, x: int, y: int, mask: torch.Tensor | None,
              resize_source: bool) -> torch.Tensor:
    """ComfyUI's ``composite`` for images [B, C, H, W] (multiplier 1): ``source`` pasted at
    (x, y), blended by ``mask`` (bilinear to the source's size), clipped to ``destination``."""
    if resize_source:
        source = F.interpolate(source, size=(destination.shape[-2], destination.shape[-1]), mode="bilinear")
    source = repeat_to_batch_size(source, destination.shape[0])
    x = max(-source.shape[-1], min(x, destination.shape[-1]))
    y = max(-source.shape[-2], min(y, destination.shape[-2]))
    left, top = x, y
    right, bottom = left + source.shape[-1], top + source.shape[-2]
    if mask is None:
        mask = torch.ones_like(source)
    else:
        mask = F.interpolate(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).float(),
                             size=(source.shape[-2], source.shape[-1]), mode="bilinear")
        mask = repeat_to_batch_size(mask, source.shape[0])
    visible_width = destination.shape[-1] - left + min(0, x)
    visible_height = destination.shape[-2] - top + min(0, y)
    mask = mask[..., :visible_height, :visible_width]
    source_portion = mask * source[..., :visible_height, :visible_width]
    destination_portion = (1 - mask) * destination[..., top:bottom, left:right]
    destination[..., top:bottom, left:right] = source_portion + destination_portion
    return destination


@executor("ImageCompositeMasked")
def image_composite_masked(ctx: ExecContext, destination: Any, source: Any, x: Any, y: Any, resize_source: Any,
                           *, mask: Any = None, **_: Any) -> tuple:
    destination = image_input(destination, "destination")
    source = image_input(source, "source")
    x = int_input(x, "x", 0, MAX_RESOLUTION)
    y = int_input(y, "y", 0, MAX_RESOLUTION)
    if mask is not None:
        mask = mask_input(mask, "mask")
    if destination.shape[-1] < source.shape[-1]:
        source = source[..., :destination.shape[-1]]
    elif destination.shape[-1] > source.shape[-1]:
        source = F.pad(source, (0, destination.shape[-1] - source.shape[-1]), value=1.0)
    out = composite(destination.clone().movedim(-1, 1), source.movedim(-1, 1).to(destination), x, y, mask,
                    bool(resize_source))
    return (out.movedim(1, -1),)


@executor("MaskPreview")
def mask_preview(ctx: ExecContext, mask: Any, **_: Any) -> tuple:
    """Display only: the mask as a grey PNG in the temp folder (as PreviewImage)."""
    images = mask_to_image(mask_input(mask, "mask"))
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    save_images(ctx, images, f"ComfyUI_temp_{suffix}", temp_dir(ctx), compress_level=1)
    return ()


@executor("ImageColorToMask")
def image_color_to_mask(ctx: ExecContext, image: Any, color: Any, **_: Any) -> tuple:
    image = image_input(image, "image")
    if image.shape[-1] < 3:
        raise NodeInputError("image", f"image has {image.shape[-1]} channels; the colour needs RGB")
    values = (image.clamp(0, 1.0) * 255.0).round().to(torch.int)
    packed = (values[..., 0] << 16) + (values[..., 1] << 8) + values[..., 2]
    return (torch.where(packed == int(color), 1.0, 0.0).float(),)


@executor("CropMask")
def crop_mask(ctx: ExecContext, mask: Any, x: Any, y: Any, width: Any, height: Any, **_: Any) -> tuple:
    mask = mask_input(mask, "mask")
    x, y = int(x), int(y)
    return (mask[:, y:y + int(height), x:x + int(width)],)


@executor("FeatherMask")
def feather_mask(ctx: ExecContext, mask: Any, left: Any, top: Any, right: Any, bottom: Any, **_: Any) -> tuple:
    out = mask_input(mask, "mask").clone()
    left, right = min(int(left), out.shape[-1]), min(int(right), out.shape[-1])
    top, bottom = min(int(top), out.shape[-2]), min(int(bottom), out.shape[-2])
    for i in range(left):
        out[:, :, i] *= (i + 1.0) / left
    for i in range(right):
        out[:, :, -i] *= (i + 1) / right
    for i in range(top):
        out[:, i, :] *= (i + 1) / top
    for i in range(bottom):
        out[:, -i, :] *= (i + 1) / bottom
    return (out,)


@executor("ThresholdMask")
def threshold_mask(ctx: ExecContext, mask: Any, value: Any, **_: Any) -> tuple:
    return ((mask_input(mask, "mask") > float(value)).float(),)
