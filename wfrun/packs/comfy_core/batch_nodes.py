"""Small core nodes seen across the corpus: ImageBatch, ImageFromBatch, GetImageSize,
RepeatImageBatch, BatchImagesNode and the Primitive* value nodes (as in ComfyUI's nodes.py /
comfy_extras at our specs' revision). BatchImagesNode's inputs are an Autogrow group: they
arrive named ``images.image0``, ``images.image1``, … (only those linked)."""

from __future__ import annotations

import re
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.media.image import upscale_image
from wfrun.packs.comfy_core.values import image_input, int_input


def _image(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]")
    return value


@executor("ImageBatch")
def image_batch(ctx: ExecContext, image1: torch.Tensor, image2: torch.Tensor, **_: Any) -> tuple:
    """image2 after image1; one extra channel (alpha 1) evens out RGB vs RGBA, and image2 is
    resized (bilinear, centre crop) to image1's size."""
    image1, image2 = _image(image1, "image1"), _image(image2, "image2")
    if image1.shape[-1] != image2.shape[-1]:
        if image1.shape[-1] > image2.shape[-1]:
            image2 = torch.nn.functional.pad(image2, (0, 1), mode="constant", value=1.0)
        else:
            image1 = torch.nn.functional.pad(image1, (0, 1), mode="constant", value=1.0)
    if image1.shape[1:] != image2.shape[1:]:
        image2 = upscale_image(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
    return (torch.cat((image1, image2), dim=0),)


@executor("ImageFromBatch")
def image_from_batch(ctx: ExecContext, image: torch.Tensor, batch_index: int, length: int, **_: Any) -> tuple:
    """``length`` frames from ``batch_index`` (negative counts from the end), clamped to the batch."""
    image = _image(image, "image")
    n = image.shape[0]
    if batch_index < 0:
        batch_index += n
    batch_index = max(0, min(n - 1, batch_index))
    length = min(n - batch_index, length)
    return (image[batch_index:batch_index + length].clone(),)


@executor("GetImageSize")
def get_image_size(ctx: ExecContext, image: torch.Tensor, **_: Any) -> tuple:
    image = _image(image, "image")
    return image.shape[2], image.shape[1], image.shape[0]


@executor("PrimitiveInt", "PrimitiveFloat", "PrimitiveBoolean", "PrimitiveString", "PrimitiveStringMultiline", pure=True)
def primitive(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return (value,)


@executor("RepeatImageBatch")
def repeat_image_batch(ctx: ExecContext, image: torch.Tensor, amount: int, **_: Any) -> tuple:
    """The whole batch ``amount`` times over (ComfyUI: ``image.repeat((amount, 1, 1, 1))``)."""
    image = image_input(image, "image")
    amount = int_input(amount, "amount", 1, 4096)
    return (image.repeat((amount, 1, 1, 1)),)


def _autogrow_items(inputs: dict[str, Any], group: str) -> list[tuple[str, Any]]:
    """The linked entries of an Autogrow input group (``images.image0``, ``images.image1``, …)
    in the order of their trailing numbers, as the frontend numbers them."""
    prefix = group + "."
    found = []
    for name, value in inputs.items():
        if name.startswith(prefix) and value is not None:
            digits = re.search(r"(\d+)$", name)
            found.append((int(digits.group(1)) if digits else -1, name, value))
    return [(name, value) for _, name, value in sorted(found)]


@executor("BatchImagesNode")
def batch_images_node(ctx: ExecContext, **inputs: Any) -> tuple:
    """Every connected ``images.imageN`` in order, one batch: channel counts evened out with an
    opaque alpha, later images resized (bilinear, centre crop) to the first one's size."""
    items = _autogrow_items(inputs, "images")
    if not items:
        raise NodeInputError("images.image0", "no image is connected", "connect at least one IMAGE")
    images = [_image(value, name) for name, value in items]
    most = max(image.shape[-1] for image in images)
    images = [torch.nn.functional.pad(image, (0, 1), mode="constant", value=1.0) if image.shape[-1] < most else image
              for image in images]
    first = images[0].shape
    if any(image.shape[-1] != most for image in images):
        raise NodeInputError(items[0][0], f"channel counts {[image.shape[-1] for image in images]} cannot be evened "
                             "out by one alpha channel")
    images = [image if image.shape[1:] == first[1:] else upscale_image(image, first[2], first[1], "bilinear", "center")
              for image in images]
    return (torch.cat(images, dim=0),)
