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
  to 0..1, as kornia's ``rgb_to_lab`` / ``lab_to_rgb`` that the pack calls do, through
  :mod:`wfrun.media.lab`; kornia is not needed here).

An ``overlap`` larger than the source hands the source out three times, as the pack does.
Files saved before 2026-03-04 did that for an overlap *equal* to the source's length too;
wfrun follows the current rule there.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media import lab
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

def _as_pixels(values: torch.Tensor) -> torch.Tensor:
    """Any ``[..., 3]`` (channels last) as ``[3, pixels, 1]``, the layout of :mod:`wfrun.media.lab`."""
    return values.reshape(-1, 3).T.unsqueeze(-1)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in 0..1 (channels last) → CIE L*a*b* (D65): :mod:`wfrun.media.lab`."""
    return lab.rgb_to_lab(_as_pixels(rgb)).squeeze(-1).T.reshape(rgb.shape)


def lab_to_rgb(values: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65, channels last) → sRGB clipped to 0..1, with the XYZ-to-sRGB matrix of
    the kornia the pack's crossfade was matched to (before 0.9)."""
    out = lab.lab_to_rgb(_as_pixels(values), lab.XYZ_TO_RGB_BEFORE_KORNIA_0_9)
    return out.squeeze(-1).T.reshape(values.shape)


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
