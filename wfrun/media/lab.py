"""sRGB to CIE L*a*b* (D65) and back, with the constants and branch points of kornia's
``kornia.color.rgb_to_lab`` / ``lab_to_rgb`` — the conversion ComfyUI's colour nodes call
(ColorTransfer), so Lab statistics computed here are the ones those nodes compute. Images
are channels-first: ``[..., 3, height, width]`` in 0..1; kornia is not a runtime
dependency (tests compare against it).

Forward: the sRGB curve undone (linear below 0.04045), the sRGB-to-XYZ matrix, XYZ
divided by the D65 white, then the cube root above 0.008856 (``7.787 t + 4/29`` below),
``L = 116 fy - 16``, ``a = 500 (fx - fy)``, ``b = 200 (fy - fz)``. Back: the inverse, with
``fz`` clamped at 0 and the cube taken above 0.2068966, the XYZ-to-sRGB matrix, the sRGB
curve, and the result clipped to 0..1. The XYZ-to-sRGB matrix is kornia 0.9's, whose last
entry (1.0573110696453443) replaced the 1.0572251624579287 of earlier releases; results of
the two differ by less than 2e-4.
"""

from __future__ import annotations

import torch

WHITE_D65 = (0.95047, 1.0, 1.08883)
RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
              (0.212671, 0.715160, 0.072169),
              (0.019334, 0.119193, 0.950227))
XYZ_TO_RGB = ((3.2404813432005266, -1.5371515162713185, -0.4985363261688878),
              (-0.9692549499965682, 1.8759900014898907, 0.0415559265582928),
              (0.0556466391351772, -0.2040413383665112, 1.0573110696453443))
#: The XYZ-to-sRGB matrix of kornia before 0.9 (last entry 1.0572251624579287), which
#: KJNodes' perceptual crossfade was matched to.
XYZ_TO_RGB_BEFORE_KORNIA_0_9 = XYZ_TO_RGB[:2] + ((0.0556466391351772, -0.2040413383665112, 1.0572251624579287),)


def _mix(matrix: tuple, image: torch.Tensor) -> torch.Tensor:
    """``matrix`` applied to the channel axis (-3) of ``image``."""
    m = torch.tensor(matrix, dtype=image.dtype, device=image.device)
    return torch.einsum("ij,...jhw->...ihw", m, image)


def _white(image: torch.Tensor) -> torch.Tensor:
    return torch.tensor(WHITE_D65, dtype=image.dtype, device=image.device).view(3, 1, 1)


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """``[..., 3, H, W]`` sRGB in 0..1 → L*a*b* (L in 0..100)."""
    linear = torch.where(image > 0.04045, ((image + 0.055) / 1.055).pow(2.4), image / 12.92)
    xyz = _mix(RGB_TO_XYZ, linear) / _white(image)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0.008856).pow(1.0 / 3.0), 7.787 * xyz + 4.0 / 29.0)
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor, xyz_to_rgb: tuple = XYZ_TO_RGB) -> torch.Tensor:
    """``[..., 3, H, W]`` L*a*b* → sRGB clipped to 0..1 (``xyz_to_rgb``: kornia 0.9's matrix,
    or :data:`XYZ_TO_RGB_BEFORE_KORNIA_0_9`)."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16.0) / 116.0
    f = torch.stack((a / 500.0 + fy, fy, (fy - b / 200.0).clamp(min=0.0)), dim=-3)
    xyz = torch.where(f > 0.2068966, f.pow(3.0), (f - 4.0 / 29.0) / 7.787) * _white(lab)
    linear = _mix(xyz_to_rgb, xyz)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308).pow(1 / 2.4) - 0.055, 12.92 * linear)
    return rgb.clamp(0.0, 1.0)
