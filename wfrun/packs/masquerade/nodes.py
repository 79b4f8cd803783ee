"""Masquerade Nodes' Get Image Size and Image To Mask (``MaskNodes.py``; unchanged since the
pack's first commit, 2023-04-22, to its last, 432cb4d, 2024-06-18).

* Get Image Size: the IMAGE's width and height (dimensions 2 and 1 of ``[B, H, W, C]``).
* Image To Mask, method ``intensity``: an RGBA image loses its alpha first; then a one-channel
  image is its only channel, anything else the grey of its first three channels with
  torchvision's ``rgb_to_grayscale`` weights (0.2989 R + 0.587 G + 0.114 B, no rounding).
* Image To Mask, method ``alpha``: the pack pads the image to RGBA (alpha 1 for RGB, the
  grey value repeated for one channel) and then returns channel **0**, not channel 3: an RGB
  image gives its red channel and an RGBA image its red channel too. That is what the node
  has always done, so it is what wfrun does.
A MASK given where the IMAGE belongs (``[B, H, W]``) passes through ``intensity`` unchanged
and ``alpha`` unchanged too (its one channel repeated, channel 0 taken), as in the pack.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: torchvision's ``rgb_to_grayscale`` weights, the ones the pack's ``tensor2mask`` uses.
GREY_WEIGHTS = (0.2989, 0.587, 0.114)
METHODS = ("intensity", "alpha")


def _image(value: Any, input_name: str = "image") -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim not in (3, 4):
        found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(input_name, f"expected an IMAGE [frames, height, width, channels], found {found}",
                             "connect an IMAGE output")
    return value


@executor("Get Image Size", pure=True)
def get_image_size(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    pixels = _image(image)
    if pixels.ndim != 4:
        raise NodeInputError("image", f"expected an IMAGE [frames, height, width, channels], found {list(pixels.shape)}")
    return int(pixels.shape[2]), int(pixels.shape[1])


def _grey(rgb: torch.Tensor) -> torch.Tensor:
    r, g, b = GREY_WEIGHTS
    return (r * rgb[..., 0] + g * rgb[..., 1] + b * rgb[..., 2]).to(rgb.dtype)


@executor("Image To Mask")
def image_to_mask(ctx: ExecContext, image: Any, method: Any, **_: Any) -> tuple:
    pixels = _image(image)
    if method not in METHODS:
        raise NodeInputError("method", f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    if pixels.ndim == 3:  # a MASK: both methods give it back
        return (pixels,)
    channels = pixels.shape[-1]
    if method == "alpha":
        return (pixels[..., 0],)
    if channels == 4:
        pixels = pixels[..., :3]
        channels = 3
    if channels == 1:
        return (pixels[..., 0],)
    if channels != 3:
        raise NodeInputError("image", f"an IMAGE of {channels} channels has no intensity the pack defines",
                             "connect an RGB, RGBA or one-channel image")
    return (_grey(pixels),)
