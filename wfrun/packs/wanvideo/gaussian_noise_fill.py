"""The wrapper's ``DrawGaussianNoiseOnImage`` (``nodes_utility.py``, 2025-11-10 on; its UniLumos
relighting example fills the background of the subject video with it).

As the pack: the mask is brought to the image's size (``nearest-exact``) and to its batch
(repeated or cut); for each image, each channel whose subject (mask above 0.5) has pixels
gets a full ``H x W`` plane of Gaussian noise with the subject's mean and standard deviation
(unbiased), drawn by ``torch.normal`` from one generator seeded with ``seed`` on the
processing device, images and channels in order; channels without subject pixels get 0.
The noise is clamped to 0..1 and blended in where the mask is low:
``image * mask + noise * (1 - mask)`` (the mask itself, not its 0.5 threshold).

An image with other than 3 channels is refused (the pack indexes its 3-channel mask with
every channel of the image and fails).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def fill_background(image: torch.Tensor, mask: torch.Tensor, seed: int, device: str | torch.device = "cpu"
                    ) -> torch.Tensor:
    """``image`` ``[B, H, W, 3]``, ``mask`` ``[BM, HM, WM]`` → ``[B, H, W, 3]`` on the CPU."""
    b, h, w, _c = image.shape
    device = torch.device(device)
    masks = mask.clone().to(device)
    images = image.clone().to(device)
    if tuple(mask.shape[1:]) != (h, w):
        masks = F.interpolate(mask.unsqueeze(1), size=(h, w), mode="nearest-exact").squeeze(1).to(device)
    if b > masks.shape[0]:
        masks = masks.repeat((b + masks.shape[0] - 1) // masks.shape[0], 1, 1)[:b]
    elif masks.shape[0] > b:
        masks = masks[:b]
    generator = torch.Generator(device=device).manual_seed(int(seed))
    out = []
    for i in range(b):
        current, picture = masks[i], images[i]
        expanded = current.unsqueeze(-1).expand(-1, -1, 3)
        subject = expanded > 0.5
        noise = torch.zeros_like(picture)
        for c in range(picture.shape[-1]):
            inside = subject[:, :, c]
            if inside.sum() > 0:
                pixels = picture[:, :, c][inside]
                noise[:, :, c] = torch.normal(mean=pixels.mean().item(), std=pixels.std().item(), size=(h, w),
                                              generator=generator, device=device)
        noise = torch.clamp(noise, 0.0, 1.0)
        out.append(picture * expanded + noise * (1 - expanded))
    if not out:
        return torch.zeros((0, h, w, 3), dtype=image.dtype)
    return torch.stack(out, dim=0).cpu()


@executor("DrawGaussianNoiseOnImage")
def draw_gaussian_noise_on_image(ctx: ExecContext, image: Any, mask: Any, device: str, seed: int,
                                 **_: Any) -> tuple:
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise NodeInputError("image", "expected an IMAGE [batch, height, width, channels]")
    if image.shape[-1] != 3:
        raise NodeInputError("image", f"an image of {image.shape[-1]} channels; the node fills 3 (RGB)",
                             "drop the alpha channel first")
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise NodeInputError("mask", "expected a MASK [batch, height, width]")
    mask = mask if mask.ndim == 3 else mask[None]
    if mask.shape[0] == 0:
        raise NodeInputError("mask", "an empty mask batch")
    where = ctx.device if device == "gpu" else "cpu"
    return (fill_background(image.float(), mask.float(), seed, where),)
