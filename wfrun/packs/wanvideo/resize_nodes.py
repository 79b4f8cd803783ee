"""WanVideoImageResizeToClosest (``nodes_utility.py``): a start image resized to the size
the official Wan I2V code would generate for it.

The pack's rule (from the official ``generate.py``): the pixel budget is
``generation_width * generation_height``; the aspect ratio is the input's
(``keep_input``) or the asked size's (``stretch_to_new``, ``crop_to_new``); the latent
sides are ``round(sqrt(area * aspect) // 8 // 2 * 2)`` and ``round(sqrt(area / aspect)
// 8 // 2 * 2)`` (VAE stride 8, patch 2), times 8 for pixels. The image is resized with
ComfyUI's lanczos (Pillow, 8-bit), centre-cropped first for ``crop_to_new``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.embeds import PATCH_SIZE, VAE_STRIDE

MODES = ("keep_input", "stretch_to_new", "crop_to_new")


def closest_size(height: int, width: int, generation_width: int, generation_height: int,
                 mode: str) -> tuple[int, int]:
    """(width, height) in pixels by the pack's rule."""
    area = generation_width * generation_height
    aspect = height / width if mode == "keep_input" else generation_height / generation_width
    lat_h = round(math.sqrt(area * aspect) // VAE_STRIDE[1] // PATCH_SIZE[1] * PATCH_SIZE[1])
    lat_w = round(math.sqrt(area / aspect) // VAE_STRIDE[2] // PATCH_SIZE[2] * PATCH_SIZE[2])
    return lat_w * VAE_STRIDE[2], lat_h * VAE_STRIDE[1]


@executor("WanVideoImageResizeToClosest")
def wanvideo_image_resize_to_closest(ctx: ExecContext, image: Any, generation_width: int, generation_height: int,
                                     aspect_ratio_preservation: str, **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[1] < 1 or image.shape[2] < 1:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise NodeInputError("image", f"expected an IMAGE [frames, height, width, channels], got {shape}")
    if aspect_ratio_preservation not in MODES:
        raise NodeInputError("aspect_ratio_preservation", f"unknown choice {aspect_ratio_preservation!r}",
                             "use " + ", ".join(MODES))
    if int(generation_width) < 1 or int(generation_height) < 1:
        raise NodeInputError("generation_width", "the generation size must be positive")
    width, height = closest_size(image.shape[1], image.shape[2], int(generation_width), int(generation_height),
                                 aspect_ratio_preservation)
    if width < VAE_STRIDE[2] or height < VAE_STRIDE[1]:
        raise NodeInputError("generation_width", f"{generation_width}x{generation_height} gives an empty size "
                             f"({width}x{height}) for this image")
    crop = "center" if aspect_ratio_preservation == "crop_to_new" else "disabled"
    resized = common_upscale(image.movedim(-1, 1), width, height, "lanczos", crop).movedim(1, -1)
    return (resized, width, height)
