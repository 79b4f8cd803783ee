"""KJNodes' ImageAddMulti and LoadAndResizeImage (``nodes/image_nodes.py``).

* ImageAddMulti folds ``image_1`` … ``image_<inputcount>`` left to right: ``add`` gives
  ``a*k + b*k``, ``subtract`` ``a*k - b*k``, ``multiply`` ``(a*k) * (b*k)`` with
  ``k = blend_amount`` (0.5 in the first signature, which had no ``blend_amount``: the
  newest default), ``difference`` plain ``a - b``. Nothing is clamped, as in the pack.
* LoadAndResizeImage reads an image from the input folder, EXIF rotation applied. The pack
  first applies it to the whole file with Pillow's ``exif_transpose``, which returns a
  one-frame copy (Pillow 9.4 and later), so of an animated file only the first frame is
  read; wfrun does the same. The picture is optionally resized with PIL's bilinear filter to
  ``width``×``height`` (``keep_proportion``: the largest size of the file's aspect ratio that
  fits, rounded; a 0 side otherwise keeps the file's), each side then cut down to a
  multiple of ``divisible_by`` when it is above 1. The mask is ``mask_channel`` of the frame
  (alpha inverted, as ComfyUI's masks are), or a 64×64 zero mask when the frame lacks that
  channel. ``background_color`` (a KJNodes colour string) composites a frame with alpha onto
  that colour; its mask is then the inverted alpha at the file's size, not resized (as the
  pack does). A palette image is read as RGBA, as the pack's newest code does (its first
  revisions read a palette image without its transparency). A single frame is repeated
  ``repeat`` times. Outputs: image, mask, the width and height used, and the file's path.
  Two differences from the pack: its zero mask for a frame without the channel comes out as
  ``[1, 1, 64, 64]`` since its 2024-08-21 revision (an extra axis); wfrun gives the MASK
  shape ``[1, 64, 64]``. A file with frames of mixed alpha gets masks of mixed shapes in the
  pack (its concatenation fails); wfrun widens the zero masks to the frame size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file
from wfrun.packs.kjnodes.colors import string_to_color

BLENDINGS = ("add", "subtract", "multiply", "difference")
MASK_CHANNELS = ("alpha", "red", "green", "blue")
#: Formats whose extra frames are not part of the picture (MPO: a JPEG's preview images).
SINGLE_FRAME_FORMATS = ("MPO",)


@executor("ImageAddMulti")
def image_add_multi(ctx: ExecContext, inputcount: Any, blending: Any, blend_amount: Any, **inputs: Any) -> tuple:
    if blending not in BLENDINGS:
        raise NodeInputError("blending", f"blending: unknown mode {blending!r}", f"use one of {', '.join(BLENDINGS)}")
    if isinstance(inputcount, bool) or not isinstance(inputcount, int) or inputcount < 2:
        raise NodeInputError("inputcount", f"inputcount: expected a whole number of 2 or more, found {inputcount!r}")
    if isinstance(blend_amount, bool) or not isinstance(blend_amount, (int, float)):
        raise NodeInputError("blend_amount", f"blend_amount: expected a number, found {blend_amount!r}")
    k = float(blend_amount)
    image = None
    for index in range(1, inputcount + 1):
        name = f"image_{index}"
        value = inputs.get(name)
        if not isinstance(value, torch.Tensor) or value.ndim != 4:
            found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise NodeInputError(name, f"{name}: expected an IMAGE (inputcount is {inputcount}), found {found}",
                                 f"connect an IMAGE to {name}, or lower inputcount")
        if image is None:
            image = value
            continue
        try:
            torch.broadcast_shapes(image.shape, value.shape)
        except RuntimeError:
            raise NodeInputError(name, f"{name}: shape {list(value.shape)} does not match {list(image.shape)}",
                                 "give images of the same size") from None
        if blending == "add":
            image = image * k + value * k
        elif blending == "subtract":
            image = image * k - value * k
        elif blending == "multiply":
            image = (image * k) * (value * k)
        else:
            image = image - value
    return (image,)


def _image_files(inputs: dict) -> dict:
    return {"image": (inputs.get("image"), "image")}


def _size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NodeInputError(name, f"{name}: expected a whole number of 0 or more, found {value!r}")
    return value


@executor("LoadAndResizeImage", volatile=True, input_files=_image_files)
def load_and_resize_image(ctx: ExecContext, image: Any, resize: Any, width: Any, height: Any, repeat: Any,
                          keep_proportion: Any, divisible_by: Any, mask_channel: Any, background_color: Any,
                          **_: Any) -> tuple:
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    width, height, divisible_by = _size(width, "width"), _size(height, "height"), _size(divisible_by, "divisible_by")
    repeat = _size(repeat, "repeat")
    if mask_channel not in MASK_CHANNELS:
        raise NodeInputError("mask_channel", f"mask_channel: unknown channel {mask_channel!r}",
                             f"use one of {', '.join(MASK_CHANNELS)}")
    if not isinstance(background_color, str):
        raise NodeInputError("background_color", f"background_color: expected text, found {background_color!r}")
    path = input_file(ctx, image, "image", "image")
    background = None
    if background_color:
        color = string_to_color(background_color)
        background = tuple(color) + ((255,) if len(color) == 3 else ())
    try:
        opened = Image.open(path)
        img = ImageOps.exif_transpose(opened) or opened
    except (UnidentifiedImageError, OSError) as err:
        raise NodeInputError("image", f"image: {path.name} is not an image Pillow can read ({err})",
                             "use a PNG, JPEG, WebP, GIF or TIFF file") from None
    file_width, file_height = img.size
    if resize:
        if keep_proportion:
            if file_width == 0 or file_height == 0:
                raise NodeInputError("image", f"image: {path.name} has no pixels")
            ratio = min(width / file_width, height / file_height)
            width, height = round(file_width * ratio), round(file_height * ratio)
        else:
            width = width or file_width
            height = height or file_height
        if divisible_by > 1:
            width -= width % divisible_by
            height -= height % divisible_by
        if width <= 0 or height <= 0:
            raise NodeInputError("width" if width <= 0 else "height",
                                 f"the resized image would be {width}x{height}",
                                 "give a larger size, or a smaller divisible_by")
    else:
        width, height = file_width, file_height
    channel = mask_channel[0].upper()
    images: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    first_size = None
    try:
        for frame in ImageSequence.Iterator(img):
            ctx.check_interrupt()
            frame = ImageOps.exif_transpose(frame) or frame
            if frame.mode == "I":
                frame = frame.point(lambda v: v * (1 / 255))
            if frame.mode == "P" or "A" in frame.getbands():
                frame = frame.convert("RGBA")
            alpha_mask = None
            if "A" in frame.getbands() and background is not None:
                alpha = np.asarray(frame.getchannel("A")).astype(np.float32) / 255.0
                alpha_mask = 1.0 - torch.from_numpy(alpha)
                frame = Image.alpha_composite(Image.new("RGBA", frame.size, background), frame)
            rgb = frame.convert("RGB")
            if first_size is None:
                first_size = rgb.size
            if rgb.size != first_size:
                continue
            if resize:
                rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
            images.append(torch.from_numpy(np.asarray(rgb).astype(np.float32) / 255.0))
            if channel in frame.getbands():
                if channel == "A" and alpha_mask is not None:
                    mask = alpha_mask
                else:
                    if resize:
                        frame = frame.resize((width, height), Image.Resampling.BILINEAR)
                    mask = torch.from_numpy(np.asarray(frame.getchannel(channel)).astype(np.float32) / 255.0)
                    if channel == "A":
                        mask = 1.0 - mask
            else:
                mask = None  # the pack's 64x64 zero mask
            masks.append(mask)
    except (OSError, ValueError) as err:
        raise NodeInputError("image", f"image: {path.name} could not be read ({err})") from None
    finally:
        opened.close()
    if not images:
        raise NodeInputError("image", f"image: {path.name} holds no image")
    if len(images) > 1 and img.format not in SINGLE_FRAME_FORMATS:
        shapes = {tuple(m.shape) for m in masks if m is not None}
        if len(shapes) > 1:
            raise NodeInputError("image", f"image: {path.name} has frames whose masks differ in size")
        shape = shapes.pop() if shapes else (64, 64)
        out_image = torch.stack(images)
        out_mask = torch.stack([torch.zeros(shape) if m is None else m for m in masks])
    else:
        out_image = images[0][None]
        out_mask = (torch.zeros((64, 64)) if masks[0] is None else masks[0])[None]
        if repeat > 1:
            out_image = out_image.repeat(repeat, 1, 1, 1)
            out_mask = out_mask.repeat(repeat, 1, 1)
    return (out_image, out_mask, width, height, str(path))
