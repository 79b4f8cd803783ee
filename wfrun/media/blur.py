"""torchvision's ``gaussian_blur`` (``transforms.v2.functional``), which many node packs call
on masks and images, without torchvision (not a wfrun dependency).

Its rule: an odd ``kernel_size`` of taps at ``-(k-1)/2 … (k-1)/2`` weighted
``exp(-t^2 / (2 sigma^2))`` and normalised, ``sigma`` by default ``0.3 ((k-1)/2 - 1) + 0.8``;
applied along rows and columns (the 2-D kernel is their outer product) over edges padded
by reflection without repeating the edge pixel (torch's "reflect"). A tensor that is not
floating point (a boolean mask) is blurred in float32 and rounded back to its dtype, so a
boolean comes back True where the blur is above one half.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def default_sigma(kernel_size: int) -> float:
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


def gaussian_kernel_1d(kernel_size: int, sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    half = (kernel_size - 1) * 0.5
    taps = torch.linspace(-half, half, kernel_size, dtype=dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: float | None = None) -> torch.Tensor:
    """Blur the last two dimensions of ``x`` (any leading shape) as torchvision does.

    ``kernel_size`` must be odd and positive; where it exceeds what reflection can pad
    (``kernel_size // 2`` must be below both sides), torch refuses, as under torchvision.
    """
    if kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {kernel_size}")
    if x.numel() == 0:
        return x
    sigma = default_sigma(kernel_size) if sigma is None else float(sigma)
    floating = torch.is_floating_point(x)
    work = x if floating else x.to(torch.float32)
    shape = work.shape
    work = work.reshape(-1, 1, shape[-2], shape[-1])
    kernel = gaussian_kernel_1d(kernel_size, sigma, work.dtype).to(work.device)
    pad = kernel_size // 2
    work = F.pad(work, (pad, pad, pad, pad), mode="reflect")
    work = F.conv2d(work, kernel.view(1, 1, 1, -1))
    work = F.conv2d(work, kernel.view(1, 1, -1, 1))
    work = work.reshape(shape)
    return work if floating else work.round().to(x.dtype)
