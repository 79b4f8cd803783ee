"""ComfyUI_essentials' ImageSmartSharpen+ (``image.py``, unchanged from a94f259, 2024-08-10, to
the pack's last release): an edge-preserving blur of each image mixed with a sharpened copy.

Per image [H, W, C] of the batch, as the pack computes it:

* ``preserve_edges`` p > 0 becomes ``max(1 - p, 0.05)``; with ``noise_radius`` r > 1 the
  blurred image is OpenCV's ``cv2.bilateralFilter(img, r, p', sigma)`` with
  ``sigma = 0.3 ((r - 1) / 2 - 1) + 0.8``; else the image itself.
* with ``sharpen`` > 0 the sharpened image is ``kornia.enhance.sharpness(img, sharpen)``:
  the image convolved with ``[[1,1,1],[1,5,1],[1,1,1]] / 13`` and clamped to 0..1 (the
  border pixels keep the image's values), then ``clamp(blur + (img - blur) sharpen, 0, 1)``;
  else the image itself.
* the result is ``clamp(ratio sharpened + (1 - ratio) blurred, 0, 1)``.

OpenCV's bilateral filter on float images (``bilateralFilter_32f``), written out here
(OpenCV is not one of wfrun's dependencies): a ``sigma_color`` or ``sigma_space`` of 0 or
less counts as 1; the window is radius ``d // 2`` (at least 1), the offsets within that
distance of the centre (a disc, not the square); the image is padded by reflection without
the edge pixel (``BORDER_REFLECT_101``). The colour distance is the sum over channels of the
absolute differences, and its weight is read from a table of ``exp(-x² / 2 sigma_color²)``
at ``4096 × channels`` steps over ``channels × (max - min)`` of the image, interpolated
linearly; an image whose values are all equal is returned as it is. The centre pixel
counts with weight 1. Everything is computed in float32, as OpenCV does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor
from wfrun.packs.essentials.values import image as as_image, number, whole

BINS_PER_CHANNEL = 1 << 12
FLT_EPSILON = float(np.finfo(np.float32).eps)


def bilateral_filter(img: torch.Tensor, d: int, sigma_color: float, sigma_space: float) -> torch.Tensor:
    """OpenCV's ``bilateralFilter`` of one float32 image [H, W, C] (see the module docstring)."""
    img = img.detach().to("cpu", torch.float32)
    height, width, channels = img.shape
    sigma_color = sigma_color if sigma_color > 0 else 1.0
    sigma_space = sigma_space if sigma_space > 0 else 1.0
    color_coeff = -0.5 / (sigma_color * sigma_color)
    space_coeff = -0.5 / (sigma_space * sigma_space)
    radius = round(sigma_space * 1.5) if d <= 0 else d // 2
    radius = max(radius, 1)
    low, high = float(img.min()), float(img.max())
    if abs(low - high) < FLT_EPSILON:
        return img.clone()
    bins = BINS_PER_CHANNEL * channels
    length = np.float32(np.float32(high - low) * np.float32(channels))
    scale_index = np.float32(np.float32(bins) / length)  # C++: int / float, in float
    lut = np.zeros(bins + 2, dtype=np.float32)
    last = np.float32(1.0)
    for i in range(bins + 2):
        if last > 0:
            val = float(np.float32(i) / scale_index)
            lut[i] = np.float32(math.exp(val * val * color_coeff))
            last = lut[i]
    lut_t = torch.from_numpy(lut)
    padded = F.pad(img.permute(2, 0, 1)[None], (radius, radius, radius, radius), mode="reflect")[0].permute(1, 2, 0)
    total = torch.zeros_like(img)
    weights = torch.zeros(height, width, dtype=torch.float32)
    scale = torch.tensor(float(scale_index), dtype=torch.float32)
    for i in range(-radius, radius + 1):
        for j in range(-radius, radius + 1):
            r = math.sqrt(i * i + j * j)
            if r > radius or (i == 0 and j == 0):
                continue
            space_weight = torch.tensor(np.float32(math.exp(r * r * space_coeff)))
            neighbour = padded[radius + i:radius + i + height, radius + j:radius + j + width]
            alpha = (neighbour - img).abs().sum(dim=-1) * scale
            index = torch.floor(alpha)
            alpha = alpha - index
            index = index.long().clamp(0, bins)
            weight = space_weight * (lut_t[index] + alpha * (lut_t[index + 1] - lut_t[index]))
            weights += weight
            total += neighbour * weight[..., None]
    return (total + img) * (1.0 / (weights + 1.0))[..., None]


def sharpness(img: torch.Tensor, factor: float) -> torch.Tensor:
    """kornia's ``enhance.sharpness`` of one image [C, H, W] by ``factor``."""
    channels = img.shape[0]
    kernel = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=img.dtype, device=img.device)
    kernel = kernel.view(1, 1, 3, 3).repeat(channels, 1, 1, 1) / 13
    blurred = F.conv2d(img[None], kernel, groups=channels)[0].clamp(0.0, 1.0)
    result = img.clone()
    result[:, 1:-1, 1:-1] = blurred
    return torch.clamp(result + (img - result) * factor, 0.0, 1.0)


@executor("ImageSmartSharpen+")
def image_smart_sharpen(ctx: ExecContext, image: Any, noise_radius: Any, preserve_edges: Any, sharpen: Any,
                        ratio: Any, **_: Any) -> tuple:
    image = as_image(image, "image")
    noise_radius = whole(noise_radius, "noise_radius")
    preserve_edges = number(preserve_edges, "preserve_edges")
    sharpen, ratio = number(sharpen, "sharpen"), number(ratio, "ratio")
    if preserve_edges > 0:
        preserve_edges = max(1 - preserve_edges, 0.05)
    out = []
    for img in image:
        if noise_radius > 1:
            sigma = 0.3 * ((noise_radius - 1) * 0.5 - 1) + 0.8
            blurred = bilateral_filter(img, noise_radius, preserve_edges, sigma).to(img.device, img.dtype)
        else:
            blurred = img
        sharpened = sharpness(img.permute(2, 0, 1), sharpen).permute(1, 2, 0) if sharpen > 0 else img
        out.append(torch.clamp(ratio * sharpened + (1 - ratio) * blurred, 0, 1))
    return (torch.stack(out),)
