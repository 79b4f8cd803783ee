"""Small core nodes seen across the corpus: ImageBatch, ImageFromBatch, GetImageSize and the
Primitive* value nodes (as in ComfyUI's nodes.py / comfy_extras at our specs' revision)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.media.image import upscale_image


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


@executor("PrimitiveInt", "PrimitiveFloat", "PrimitiveBoolean", "PrimitiveString", "PrimitiveStringMultiline")
def primitive(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return (value,)
