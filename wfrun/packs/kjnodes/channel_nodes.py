"""KJNodes' per-pixel image nodes (``nodes/image_nodes.py``, ``nodes/nodes.py``):
ImageNormalize_Neg1_To_1, RemapImageRange, SplitImageChannels, MergeImageChannels and
ImageNoiseAugmentation.

- SplitImageChannels gives each of R, G, B repeated over three channels, and a zero mask
  (the pack reads an alpha channel at index 4 and fails on RGBA images: refused here).
- MergeImageChannels takes R from ``red``, G from ``green``'s second channel and B from
  ``blue``'s third, appending ``alpha`` when given (``mask`` in its first signature).
- ImageNoiseAugmentation adds ``noise_aug_strength`` times Gaussian noise drawn by a
  generator on the image's device seeded ``seed`` (the pack seeds torch's global one:
  the same draw), except where a pixel is exactly -1.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.checked import image as as_image, mask as as_mask


@executor("ImageNormalize_Neg1_To_1")
def image_normalize_neg1_to_1(ctx: ExecContext, images: Any, **_: Any) -> tuple:
    return (as_image(images, "images") * 2.0 - 1.0,)


@executor("RemapImageRange")
def remap_image_range(ctx: ExecContext, image: Any, min: Any, max: Any, clamp: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    if image.dtype == torch.float16:
        image = image.float()
    image = float(min) + image * (float(max) - float(min))
    return (torch.clamp(image, 0.0, 1.0) if clamp else image,)


@executor("SplitImageChannels")
def split_image_channels(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    if image.shape[3] != 3:
        raise NodeInputError("image", f"an image of {image.shape[3]} channels: the pack only splits RGB "
                             "(its alpha read fails)", "remove the alpha channel first")
    planes = [image[..., c:c + 1].repeat(1, 1, 1, 3) for c in range(3)]
    return (*planes, torch.zeros(image.shape[:3], device=image.device))


@executor("MergeImageChannels")
def merge_image_channels(ctx: ExecContext, red: Any, green: Any, blue: Any, alpha: Any = None, mask: Any = None,
                         **_: Any) -> tuple:
    red, green, blue = as_image(red, "red"), as_image(green, "green"), as_image(blue, "blue")
    if not red.shape[:3] == green.shape[:3] == blue.shape[:3]:
        raise NodeInputError("green", "red, green and blue must have the same frames and size",
                             "resize the channel images to one size")
    image = torch.stack([red[..., 0], green[..., 1], blue[..., 2]], dim=-1)
    alpha = alpha if alpha is not None else mask
    if alpha is not None:
        image = torch.cat([image, as_mask(alpha, "alpha").unsqueeze(-1).to(image)], dim=-1)
    return (image,)


@executor("ImageNoiseAugmentation")
def image_noise_augmentation(ctx: ExecContext, image: Any, noise_aug_strength: Any, seed: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    if isinstance(noise_aug_strength, bool) or not isinstance(noise_aug_strength, (int, float)):
        raise NodeInputError("noise_aug_strength", f"noise_aug_strength: expected a number, found "
                             f"{noise_aug_strength!r}", "set the strength (the widget has no default)")
    generator = torch.Generator(device=image.device).manual_seed(int(seed))
    noise = torch.randn(image.shape, generator=generator, device=image.device, dtype=image.dtype)
    noise = noise * float(noise_aug_strength)
    return (image + torch.where(image == -1, torch.zeros_like(image), noise),)
