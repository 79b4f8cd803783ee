"""ComfyUI's image post-processing nodes that Wan workflows use (``comfy_extras``):
ImageBlur, which the pack's 1.3B control examples run on their control video."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor, NodeInputError


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """ComfyUI's kernel: ``size`` taps whose coordinates span -1..1 whatever the size, so
    ``sigma`` is relative to the radius, not in pixels; normalised to sum 1."""
    axis = torch.linspace(-1.0, 1.0, size)
    squared = axis[:, None] ** 2 + axis[None, :] ** 2
    kernel = torch.exp(-squared / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


@executor("ImageBlur")
def image_blur(ctx: ExecContext, image: torch.Tensor, blur_radius: int, sigma: float,
               **_: Any) -> tuple:
    """Gaussian blur over ``2 * blur_radius + 1`` taps, edges reflected (as ComfyUI since 2024;
    its first version padded with zeros, which darkened borders)."""
    radius = int(blur_radius)
    if radius == 0:
        return (image,)
    frames, height, width, channels = image.shape
    if radius >= min(height, width):
        raise NodeInputError("blur_radius", f"blur_radius {radius} needs an image larger than {width}x{height}",
                             f"use a blur_radius below {min(height, width)}")
    size = 2 * radius + 1
    kernel = gaussian_kernel(size, float(sigma)).to(image).expand(channels, 1, size, size)
    x = F.pad(image.permute(0, 3, 1, 2), (radius, radius, radius, radius), mode="reflect")
    return (F.conv2d(x, kernel, groups=channels).permute(0, 2, 3, 1),)
