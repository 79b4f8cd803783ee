"""ComfyUI_essentials' ImageColorMatch+ (``image.py``) and MaskFromColor+ (``mask.py``).

* MaskFromColor+: 1 where every channel of the image, clamped to 0..1, times 255 and
  rounded, lies within ``threshold`` of (``red``, ``green``, ``blue``) (bounds clipped to
  0..255), else 0.
* ImageColorMatch+: both images go to ``color_space`` (the pack calls kornia's conversions;
  wfrun computes the same published formulas itself: sRGB with its piecewise gamma, the
  sRGB→XYZ matrix and D65 white for XYZ, CIE L*a*b* and L*u*v*, BT.601 YUV and YCbCr with
  kornia's constants), each channel of each image frame is standardised by the frame's mean
  and standard deviation (N-1) and given the reference frame's, ``nan_to_num`` applied as
  in the pack (a flat channel divides by 0: NaN becomes 0, ±inf the largest float), blended
  ``factor * matched + (1 - factor) * image`` in that space, converted back (L*a*b* and
  YCbCr clamp to 0..1 on the way back, as kornia does) and clamped to 0..1. A reference of
  one frame serves every frame; else reference frames pair with image frames (counts must
  match within each ``batch_size`` chunk, as the pack's broadcasting needs).
  ``reference_mask`` (frames as the reference) is made binary at 0.5, resized bicubic with a
  centre crop to the reference size when it differs, and the reference statistics are then
  taken over it (population deviation). ``device`` and ``batch_size`` only choose where and
  in what chunks the pack computes; the numbers are the same, wfrun computes on the CPU.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

# ------------------------------------------------------------------ colour spaces, [.., 3, H, W]

#: sRGB (linear) to CIE XYZ, D65, and its inverse, as kornia holds them.
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_XYZ_TO_RGB = torch.tensor([[3.2404813432005266, -1.5371515162713185, -0.4985363261688878],
                            [-0.9692549499965682, 1.8759900014898907, 0.0415559265582928],
                            [0.0556466391351772, -0.2040413383665112, 1.0573110696453443]], dtype=torch.float64)
_RGB_TO_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.147, -0.289, 0.436], [0.615, -0.515, -0.100]],
                           dtype=torch.float64)
_YUV_TO_RGB = torch.tensor([[1.0, -3.945707070707071e-05, 1.139827967171717],
                            [1.0, -0.39461016414141414, -0.5805003156565657],
                            [1.0, 2.0319996843434343, -0.00048137626262626264]], dtype=torch.float64)
_WHITE = (0.95047, 1.0, 1.08883)
_EPS = 1e-12


def _linear(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix.to(image.dtype), image)


def _white(image: torch.Tensor) -> torch.Tensor:
    return torch.tensor(_WHITE, dtype=image.dtype)[:, None, None]


def srgb_to_linear(image: torch.Tensor) -> torch.Tensor:
    return torch.where(image > 0.04045, ((image + 0.055).clamp(min=0) / 1.055) ** 2.4, image / 12.92)


def linear_to_srgb(image: torch.Tensor) -> torch.Tensor:
    return torch.where(image > 0.0031308, 1.055 * image.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * image)


def rgb_to_xyz(image: torch.Tensor) -> torch.Tensor:
    """kornia's ``rgb_to_xyz``: the matrix on the values as given (no gamma step)."""
    return _linear(_RGB_TO_XYZ, image)


def xyz_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _linear(_XYZ_TO_RGB, image)


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    xyz = rgb_to_xyz(srgb_to_linear(image)) / _white(image)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0.008856) ** (1 / 3), 7.787 * xyz + 4 / 29)
    x, y, z = f.unbind(-3)
    return torch.stack([116 * y - 16, 500 * (x - y), 200 * (y - z)], dim=-3)


def lab_to_rgb(image: torch.Tensor) -> torch.Tensor:
    L, a, b = image.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([a / 500 + fy, fy, (fy - b / 200).clamp(min=0)], dim=-3)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 4 / 29) / 7.787) * _white(image)
    return linear_to_srgb(xyz_to_rgb(xyz)).clamp(0, 1)


def _uv_white() -> tuple[float, float]:
    x, y, z = _WHITE
    return 4 * x / (x + 15 * y + 3 * z), 9 * y / (x + 15 * y + 3 * z)


def rgb_to_luv(image: torch.Tensor) -> torch.Tensor:
    x, y, z = rgb_to_xyz(srgb_to_linear(image)).unbind(-3)
    L = torch.where(y > 0.008856, 116 * y.clamp(min=0.008856) ** (1 / 3) - 16, 903.3 * y)
    u_w, v_w = _uv_white()
    denom = x + 15 * y + 3 * z + _EPS
    return torch.stack([L, 13 * L * (4 * x / denom - u_w), 13 * L * (9 * y / denom - v_w)], dim=-3)


def luv_to_rgb(image: torch.Tensor) -> torch.Tensor:
    L, u, v = image.unbind(-3)
    y = torch.where(L > 7.999625, ((L + 16) / 116) ** 3, L / 903.3)
    u_w, v_w = _uv_white()
    a = u_w + u / (13 * L + _EPS)
    d = v_w + v / (13 * L + _EPS)
    c = 3 * y * (5 * d - 3)
    z = ((a - 4) * c - 15 * a * d * y) / (12 * d + _EPS)
    x = -(c / (d + _EPS) + 3 * z)
    return linear_to_srgb(xyz_to_rgb(torch.stack([x, y, z], dim=-3)))


def rgb_to_yuv(image: torch.Tensor) -> torch.Tensor:
    return _linear(_RGB_TO_YUV, image)


def yuv_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _linear(_YUV_TO_RGB, image)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    r, g, b = image.unbind(-3)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, (b - y) * 0.564 + 0.5, (r - y) * 0.713 + 0.5], dim=-3)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    y, cb, cr = image.unbind(-3)
    cb, cr = cb - 0.5, cr - 0.5
    return torch.stack([y + 1.4025245442 * cr, y - 0.7144034731 * cr - 0.3443401356 * cb,
                        y + 1.7730496454 * cb], dim=-3).clamp(0, 1)


def _same(image: torch.Tensor) -> torch.Tensor:
    return image


SPACES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "LAB": (rgb_to_lab, lab_to_rgb), "YCbCr": (rgb_to_ycbcr, ycbcr_to_rgb), "RGB": (_same, _same),
    "LUV": (rgb_to_luv, luv_to_rgb), "YUV": (rgb_to_yuv, yuv_to_rgb), "XYZ": (rgb_to_xyz, xyz_to_rgb)}


# ------------------------------------------------------------------ nodes

def _rgb_batch(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] != 3:
        found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected an RGB IMAGE [frames, height, width, 3], found {found}")
    return value


def _mean_std(tensor: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if mask is None:
        return tensor.mean(dim=(2, 3), keepdim=True), tensor.std(dim=(2, 3), keepdim=True)
    masked = tensor * mask
    count = mask.sum(dim=(2, 3), keepdim=True).clamp(min=1e-6)
    mean = torch.nan_to_num(masked.sum(dim=(2, 3), keepdim=True) / count)
    std = torch.sqrt(torch.nan_to_num(((masked - mean) ** 2 * mask).sum(dim=(2, 3), keepdim=True) / count))
    return mean, std


@executor("ImageColorMatch+")
def image_color_match(ctx: ExecContext, image: Any, reference: Any, color_space: Any, factor: Any, device: Any = "auto", *,
                      batch_size: Any, reference_mask: Any = None, **_: Any) -> tuple:
    image, reference = _rgb_batch(image, "image"), _rgb_batch(reference, "reference")
    if color_space not in SPACES:
        raise NodeInputError("color_space", f"color_space: unknown space {color_space!r}",
                             f"use one of {', '.join(SPACES)}")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise NodeInputError("factor", f"factor: expected a number, found {factor!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise NodeInputError("batch_size", f"batch_size: expected a whole number of 0 or more, found {batch_size!r}")
    to_space, from_space = SPACES[color_space]
    ref = reference.detach().cpu().float().permute(0, 3, 1, 2)
    mask = None
    if reference_mask is not None:
        if not isinstance(reference_mask, torch.Tensor) or reference_mask.ndim != 3:
            found = list(reference_mask.shape) if isinstance(reference_mask, torch.Tensor) else type(reference_mask).__name__
            raise NodeInputError("reference_mask", f"reference_mask: expected a MASK [frames, height, width], found {found}")
        if reference_mask.shape[0] != ref.shape[0]:
            raise NodeInputError("reference_mask", f"reference_mask has {reference_mask.shape[0]} frames, the "
                                 f"reference {ref.shape[0]}", "give one mask frame per reference frame")
        mask = (reference_mask.detach().cpu().float().unsqueeze(1) > 0.5).float()
        if mask.shape[2:] != ref.shape[2:]:
            mask = common_upscale(mask, ref.shape[3], ref.shape[2], "bicubic", "center")
    ref_mean, ref_std = _mean_std(to_space(ref), mask)
    chunk = image.shape[0] if batch_size == 0 or batch_size > image.shape[0] else batch_size
    out = []
    for part in torch.split(image.detach().cpu().float().permute(0, 3, 1, 2), chunk, dim=0):
        ctx.check_interrupt()
        if ref_mean.shape[0] not in (1, part.shape[0]):
            raise NodeInputError("reference", f"reference: {ref_mean.shape[0]} frames do not pair with a chunk of "
                                 f"{part.shape[0]} image frames", "give one reference frame, or one per image frame "
                                 "with batch_size 0")
        values = to_space(part)
        mean, std = _mean_std(values, None)
        matched = torch.nan_to_num((values - mean) / std) * torch.nan_to_num(ref_std) + ref_mean
        matched = float(factor) * matched + (1 - float(factor)) * values
        out.append(from_space(matched).permute(0, 2, 3, 1).clamp(0, 1))
    return (torch.cat(out, dim=0),)


@executor("MaskFromColor+")
def mask_from_color(ctx: ExecContext, image: Any, red: Any, green: Any, blue: Any, threshold: Any, **_: Any) -> tuple:
    image = _rgb_batch(image, "image")
    for name, value in (("red", red), ("green", green), ("blue", blue), ("threshold", threshold)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    values = (image.clamp(0, 1) * 255.0).round().to(torch.int64)
    color = torch.tensor([red, green, blue], dtype=torch.int64)
    lower = (color - threshold).clamp(min=0)
    upper = (color + threshold).clamp(max=255)
    return (((values >= lower) & (values <= upper)).all(dim=-1).float(),)
