"""ImageBlend (``comfy_extras/nodes_post_processing.py``) and AdjustBrightness
(``comfy_extras/nodes_dataset.py``).

ImageBlend: when the channel counts differ, ``image2`` loses the channels ``image1`` lacks,
or ``image1`` gains one channel of ones (ComfyUI's ``image_alpha_fix``; a one-channel ``image2`` then
broadcasts over them, other counts fail in ComfyUI's arithmetic and here on the node); an
``image2`` of another shape is resized to ``image1``'s height and width (bicubic, centre
crop); then ``image1 * (1 - blend_factor) + mode(image1, image2) * blend_factor``, clamped to
0..1, with the modes:

- normal: ``image2``; multiply: ``image1 * image2``; screen: ``1 - (1-image1)(1-image2)``;
- overlay: ``2ab`` where ``a <= 0.5``, else ``1 - 2(1-a)(1-b)`` (``a`` = image1, ``b`` = image2);
- soft_light: ``a - (1-2b) a (1-a)`` where ``b <= 0.5``, else ``a + (2b-1)(g(a) - a)`` with
  ``g(a) = ((16a - 12)a + 4)a`` for ``a <= 0.25``, else ``sqrt(a)``;
- difference: ``image1 - image2`` (signed, then clamped, as ComfyUI does — not ``|a - b|``).

Batches of different lengths broadcast as torch does (one frame against many); other
mismatches are an error naming both lengths.

AdjustBrightness: ``images * factor``, clamped to 0..1.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.values import choice_input, float_input, image_input

BLEND_MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")


def _soft_light_g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def blend_pixels(a: torch.Tensor, b: torch.Tensor, mode: str) -> torch.Tensor:
    """The blend of ``a`` (image1) and ``b`` (image2) before mixing by the factor."""
    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    if mode == "soft_light":
        return torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (_soft_light_g(a) - a))
    return a - b  # difference


def _alpha_fix(image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if image1.shape[-1] < image2.shape[-1]:
        return image1, image2[..., :image1.shape[-1]]
    if image1.shape[-1] > image2.shape[-1]:
        image1 = torch.nn.functional.pad(image1, (0, 1), value=1.0)
    return image1, image2


@executor("ImageBlend")
def image_blend(ctx: ExecContext, image1: Any, image2: Any, blend_factor: Any, blend_mode: Any, **_: Any) -> tuple:
    image1, image2 = image_input(image1, "image1"), image_input(image2, "image2")
    factor = float_input(blend_factor, "blend_factor")
    mode = choice_input(blend_mode, "blend_mode", BLEND_MODES)
    image1, image2 = _alpha_fix(image1, image2.to(image1.device))
    if image1.shape != image2.shape:
        image2 = upscale_image(image2, image1.shape[2], image1.shape[1], "bicubic", "center")
    if image1.shape[0] != image2.shape[0] and 1 not in (image1.shape[0], image2.shape[0]):
        raise NodeInputError("image2", f"image1 has {image1.shape[0]} frames and image2 {image2.shape[0]}",
                             "blend batches of the same length, or one image with a batch")
    if image2.shape[-1] not in (1, image1.shape[-1]):
        raise NodeInputError("image2", f"image1 has {image1.shape[-1]} channels (with the added alpha) and image2 "
                             f"{image2.shape[-1]}: they do not combine (ComfyUI fails here too)",
                             "convert both to RGB, or give image1 no more channels than image2")
    mixed = image1 * (1 - factor) + blend_pixels(image1, image2, mode) * factor
    return (torch.clamp(mixed, 0, 1),)


@executor("AdjustBrightness")
def adjust_brightness(ctx: ExecContext, images: Any, factor: Any, **_: Any) -> tuple:
    images = image_input(images, "images")
    return ((images * float_input(factor, "factor")).clamp(0.0, 1.0),)
