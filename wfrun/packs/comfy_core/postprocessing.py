"""ComfyUI's image post-processing nodes that Wan workflows use (``comfy_extras``):
ImageBlur, which the pack's 1.3B control examples run on their control video, and
ImageSharpen: the same Gaussian kernel scaled by ``-10 · alpha`` with its centre raised so the
kernel sums to 1 (an unsharp mask), over the reflected image, clamped to 0..1."""

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
    return (filtered(image, gaussian_kernel(2 * radius + 1, float(sigma)), "blur_radius"),)


def filtered(image: torch.Tensor, kernel: torch.Tensor, name: str) -> torch.Tensor:
    """``image`` [frames, H, W, C] convolved channel by channel with the square ``kernel`` over
    its edges reflected (ComfyUI's reflect pad; its extra zero padding is cropped off again);
    a kernel radius the image cannot reflect is refused on ``name``."""
    radius = kernel.shape[-1] // 2
    if radius >= min(image.shape[1], image.shape[2]):
        raise NodeInputError(name, f"{name} {radius} needs an image larger than {image.shape[2]}x{image.shape[1]}",
                             f"use a {name} below {min(image.shape[1], image.shape[2])}")
    channels, size = image.shape[-1], kernel.shape[-1]
    x = F.pad(image.permute(0, 3, 1, 2), (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(x, kernel.to(image).expand(channels, 1, size, size), groups=channels).permute(0, 2, 3, 1)


@executor("ImageSharpen")
def image_sharpen(ctx: ExecContext, image: torch.Tensor, sharpen_radius: int, sigma: float, alpha: float,
                  **_: Any) -> tuple:
    radius = int(sharpen_radius)
    if radius == 0:
        return (image,)
    kernel = gaussian_kernel(2 * radius + 1, float(sigma)) * -(float(alpha) * 10)
    kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
    return (filtered(image, kernel, "sharpen_radius").clamp(0, 1),)
