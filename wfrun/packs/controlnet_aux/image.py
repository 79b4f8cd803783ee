"""The pack's image plumbing, in torch: what its preprocessors do to a frame around the network.

comfyui_controlnet_aux works on 8-bit numpy frames with OpenCV; each preprocessor call
(``common_annotator_call``) turns one IMAGE frame into ``uint8`` (``image * 255`` truncated),
runs the detector, and divides the ``uint8`` result by 255. The detectors resize with
``resize_image_with_pad``: the short side is scaled to the *detect resolution* (sides rounded
half-to-even, as ``np.round``), with OpenCV's bicubic when enlarging and its area filter when
shrinking, then padded at the bottom and right (edge pixels repeated) to multiples of 64;
``remove_pad`` crops the result back.

OpenCV is not a dependency of wfrun, so the two filters are written here on torch:

- ``INTER_CUBIC``: PyTorch's bicubic (``align_corners=False``, no antialiasing, a = -0.75,
  edges replicated) samples the same points with the same kernel;
- ``INTER_AREA`` when shrinking: each output pixel is the mean of the input area it covers,
  pixels cut by its border counted by the covered fraction (what OpenCV computes; PIL's BOX
  filter computes the same, which the tests use as the reference).

8-bit results are rounded to the nearest integer and clamped to 0..255, as OpenCV saturates.
OpenCV computes 8-bit bicubic in 11-bit fixed point, so single pixels may differ by one level.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: ``common_annotator_call``: a resolution below this (or not an int) means 512.
MIN_RESOLUTION = 64
DEFAULT_RESOLUTION = 512


def detect_resolution(value: object) -> int:
    """The resolution the pack passes to a detector for a node's ``resolution`` input."""
    return value if type(value) is int and value >= MIN_RESOLUTION else DEFAULT_RESOLUTION


def to_uint8_levels(image: torch.Tensor) -> torch.Tensor:
    """An IMAGE frame ``[H, W, C]`` in 0..1 as the pack's ``uint8`` levels (float, 0..255):
    ``image * 255`` truncated toward zero, as numpy's ``uint8`` cast does. Values outside
    0..1 (which that cast wraps around) are clamped."""
    return torch.floor((image.float() * 255.0).clamp(0, 255))


def hwc3(levels: torch.Tensor) -> torch.Tensor:
    """The pack's ``HWC3``: grey to three channels; RGBA composited over white and truncated."""
    channels = levels.shape[-1]
    if channels == 3:
        return levels
    if channels == 1:
        return levels.expand(*levels.shape[:-1], 3)
    if channels == 4:
        alpha = levels[..., 3:4] / 255.0
        return torch.floor((levels[..., :3] * alpha + 255.0 * (1.0 - alpha)).clamp(0, 255))
    raise ValueError(f"{channels} channels")


def target_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """``resize_image_with_pad``'s size: the short side scaled to ``resolution``, each side
    rounded half to even (Python's ``round`` and numpy's agree)."""
    k = float(resolution) / float(min(height, width))
    return int(round(float(height) * k)), int(round(float(width) * k))


def pad64(size: int) -> int:
    return int(math.ceil(size / 64.0) * 64 - size)


def area_matrix(src: int, dst: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[dst, src]`` weights of area resampling from ``src`` to ``dst`` pixels (``dst <= src``):
    row i averages the source interval ``[i * s, (i + 1) * s)``, ``s = src / dst``."""
    scale = src / dst
    starts = torch.arange(dst, dtype=torch.float64) * scale
    ends = starts + scale
    left = torch.arange(src, dtype=torch.float64)
    overlap = (torch.minimum(ends[:, None], left[None, :] + 1) - torch.maximum(starts[:, None], left[None, :]))
    return (overlap.clamp(min=0) / scale).to(dtype)


def resize_area(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area (box) shrinking of ``[..., H, W]`` to ``size``; a side that grows is an error."""
    height, width = pixels.shape[-2:]
    if size[0] > height or size[1] > width:
        raise ValueError(f"area resize only shrinks: {height}x{width} to {size[0]}x{size[1]}")
    rows = area_matrix(height, size[0]).to(pixels.device)
    cols = area_matrix(width, size[1]).to(pixels.device)
    return (rows @ pixels.double() @ cols.T).to(pixels.dtype)


def resize_cubic(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """OpenCV's ``INTER_CUBIC`` on ``[N, C, H, W]``."""
    if tuple(pixels.shape[-2:]) == tuple(size):
        return pixels
    return F.interpolate(pixels, size=size, mode="bicubic", align_corners=False)


def resize_levels(levels: torch.Tensor, resolution: int) -> torch.Tensor:
    """``resize_image_with_pad`` followed by ``remove_pad`` on an 8-bit frame ``[H, W, C]``
    (levels as float): bicubic when the scale is above 1, area otherwise; rounded to levels.
    Padding then cropping it off changes nothing, so it is not done."""
    height, width = levels.shape[:2]
    size = target_size(height, width, resolution)
    chw = levels.permute(2, 0, 1).unsqueeze(0).double()
    k = float(resolution) / float(min(height, width))
    out = resize_cubic(chw, size) if k > 1 else resize_area(chw, size)
    return torch.round(out).clamp(0, 255)[0].permute(1, 2, 0).float()


def resize_with_pad(levels: torch.Tensor, resolution: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """The padded detector input ``[H64, W64, C]`` and the size to crop results back to."""
    height, width = levels.shape[:2]
    size = target_size(height, width, resolution)
    resized = resize_levels(levels, resolution)
    pad_h, pad_w = pad64(size[0]), pad64(size[1])
    if pad_h or pad_w:
        resized = F.pad(resized.permute(2, 0, 1).unsqueeze(0), (0, pad_w, 0, pad_h), mode="replicate")[0].permute(1, 2, 0)
    return resized, size
