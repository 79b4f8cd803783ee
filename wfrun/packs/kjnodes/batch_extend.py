"""KJNodes' ImageBatchExtendWithOverlap (``nodes/image_nodes.py``): the helper for extending
a video by generating from its last frames and joining the new clip on.

Without ``new_images`` it hands out the last ``overlap`` source frames (``start_images``)
and, as ``extended_images``, a black 64x64 placeholder frame. With them, the last
``overlap`` source frames and the first ``overlap`` new frames overlap:

- ``cut``: ``overlap_side`` ``source`` keeps the new frames whole (the source loses its
  last ``overlap``), ``new_images`` keeps the source whole;
- the blends mix ``src`` into ``dst`` over the overlap with weights ``t = i / (overlap + 1)``
  for ``i = 1 … overlap`` (never 0 or 1), where ``src`` is the side named by
  ``overlap_side`` and ``dst`` the other: ``linear_blend`` linearly, ``ease_in_out`` with
  ``3t² - 2t³``, ``filmic_crossfade`` linearly on ``x^2.2`` and back with ``^(1/2.2)``,
  ``perceptual_crossfade`` linearly in CIE L*a*b* (sRGB, D65 white; back to RGB clipped
  to 0..1, as kornia's ``rgb_to_lab`` / ``lab_to_rgb`` that the pack calls do; kornia is
  not needed here: the standard formulas below are the same).

An ``overlap`` larger than the source hands the source out three times, as the pack does.
Files saved before 2026-03-04 did that for an overlap *equal* to the source's length too;
wfrun follows the current rule there.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

WHITE_D65 = (0.95047, 1.0, 1.08883)
RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
              (0.212671, 0.715160, 0.072169),
              (0.019334, 0.119193, 0.950227))
XYZ_TO_RGB = ((3.2404813432005266, -1.5371515162713185, -0.4985363261688878),
              (-0.9692549499965682, 1.8759900014898907, 0.0415559265582928),
              (0.0556466391351772, -0.2040413383665112, 1.0572251624579287))
EPSILON = 0.008856  # (6/29)^3
KAPPA_SLOPE = 7.787  # 1 / (3 (6/29)^2)


def _mix(matrix: tuple, image: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(matrix, dtype=image.dtype, device=image.device)
    return torch.einsum("ij,...j->...i", m, image)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in 0..1 (channels last) → CIE L*a*b* (D65)."""
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).pow(2.4), rgb / 12.92)
    xyz = _mix(RGB_TO_XYZ, linear) / torch.tensor(WHITE_D65, dtype=rgb.dtype, device=rgb.device)
    f = torch.where(xyz > EPSILON, xyz.clamp(min=EPSILON).pow(1 / 3), KAPPA_SLOPE * xyz + 4 / 29)
    fx, fy, fz = f.unbind(-1)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) → sRGB, clipped to 0..1."""
    L, a, b = lab.unbind(-1)
    fy = (L + 16) / 116
    f = torch.stack((a / 500 + fy, fy, (fy - b / 200).clamp(min=0)), dim=-1)
    xyz = torch.where(f > 6 / 29, f.pow(3), (f - 4 / 29) / KAPPA_SLOPE)
    linear = _mix(XYZ_TO_RGB, xyz * torch.tensor(WHITE_D65, dtype=lab.dtype, device=lab.device))
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308).pow(1 / 2.4) - 0.055, 12.92 * linear)
    return rgb.clamp(0, 1)


def _weights(overlap: int, like: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0, 1, overlap + 2, dtype=like.dtype, device=like.device)[1:-1].view(-1, 1, 1, 1)


def blend(src: torch.Tensor, dst: torch.Tensor, mode: str) -> torch.Tensor:
    """The overlap frames of ``mode`` (module docstring); ``src`` and ``dst`` [N, H, W, C]."""
    t = _weights(src.shape[0], src)
    if mode == "linear_blend":
        return (1 - t) * src + t * dst
    if mode == "ease_in_out":
        eased = 3 * t * t - 2 * t * t * t
        return (1 - eased) * src + eased * dst
    if mode == "filmic_crossfade":
        gamma = 2.2
        return ((1 - t) * src.pow(gamma) + t * dst.pow(gamma)).pow(1.0 / gamma)
    if mode == "perceptual_crossfade":
        if src.shape[-1] != 3:
            raise NodeInputError("overlap_mode", f"perceptual_crossfade needs RGB images, found {src.shape[-1]} channels",
                                 "remove the alpha channel first, or use linear_blend")
        return lab_to_rgb((1 - t) * rgb_to_lab(src) + t * rgb_to_lab(dst))
    raise NodeInputError("overlap_mode", f"unknown overlap_mode {mode!r}",
                         "use cut, linear_blend, ease_in_out, filmic_crossfade or perceptual_crossfade")


@executor("ImageBatchExtendWithOverlap")
def image_batch_extend_with_overlap(ctx: ExecContext, source_images: Any, overlap: int, overlap_side: str,
                                    overlap_mode: str, new_images: Any = None, **_: Any) -> tuple:
    if not isinstance(source_images, torch.Tensor) or source_images.ndim != 4:
        raise NodeInputError("source_images", "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE")
    overlap = int(overlap)
    if overlap > len(source_images):
        return source_images, source_images, source_images
    if overlap_side not in ("source", "new_images"):
        raise NodeInputError("overlap_side", f"unknown overlap_side {overlap_side!r}", "use source or new_images")
    start_images = source_images[-overlap:]
    if new_images is None:
        return source_images, start_images, torch.zeros((1, 64, 64, 3))
    if not isinstance(new_images, torch.Tensor) or new_images.ndim != 4:
        raise NodeInputError("new_images", "expected an IMAGE [frames, height, width, channels]", "connect an IMAGE")
    if source_images.shape[1:3] != new_images.shape[1:3]:
        raise NodeInputError("new_images", f"new images are {tuple(new_images.shape[1:3])}, the source "
                             f"{tuple(source_images.shape[1:3])} (height, width)", "give both the same size")
    if overlap_mode == "cut":
        if overlap_side == "new_images":
            extended = torch.cat((source_images, new_images[overlap:]), dim=0)
        else:
            extended = torch.cat((source_images[:-overlap], new_images), dim=0)
        return source_images, start_images, extended
    if len(new_images) < overlap:
        raise NodeInputError("new_images", f"{len(new_images)} new frames for an overlap of {overlap}",
                             "generate at least as many new frames as the overlap, or lower overlap")
    if source_images.shape[-1] != new_images.shape[-1]:
        raise NodeInputError("new_images", f"{new_images.shape[-1]} channels, the source has {source_images.shape[-1]}",
                             "give both the same channels")
    tail, head = source_images[-overlap:], new_images[:overlap].to(source_images)
    src, dst = (tail, head) if overlap_side == "source" else (head, tail)
    mixed = blend(src, dst, overlap_mode)
    extended = torch.cat((source_images[:-overlap], mixed, new_images[overlap:].to(source_images)), dim=0)
    return source_images, start_images, extended
