"""KJNodes' ColorMatch (``nodes/image_nodes.py``): each target frame's colours moved to the
reference's with one of the ``color-matcher`` library's methods the pack calls (computed by
:mod:`wfrun.media.color_transfer`: ``mkl``, ``hm``, ``reinhard``, ``mvgd``, ``hm-mvgd-hm``,
``hm-mkl-hm``).

Then, as the pack: strength ``s`` blends ``target + s * (mapped - target)``; strength 0
returns the targets untouched; results are clamped to 0..1. A reference of one frame serves
every target frame, else frame ``i`` uses reference frame ``i`` (a shorter reference batch
is an error here, an index error in the pack). A frame that cannot be mapped (a linear
algebra failure, or a flat frame for Reinhard) is kept as it was, with a warning, as the pack does. The oldest
signature's ``use_only_first`` takes the first reference frame for all; ``multithread``
only spreads frames over threads in the pack (same result). One difference: the library's
Reinhard step writes its zero replacement into the caller's arrays, so in ComfyUI the
target and reference tensors themselves change; wfrun leaves its inputs alone.

ColorMatchV2 (2025): the same methods and blend, ``image_target`` first; target frame ``i``
uses reference frame ``min(i, reference frames - 1)`` (a shorter reference batch repeats its
last frame), and one more method, ``reinhard_lab_gpu``: per frame, each L*a*b* channel
(kornia's conversion, :mod:`wfrun.media.lab`) moved to the reference's mean and population
standard deviation (the source's at least 1e-6), converted back, then blended
``(1 - s) * target + s * mapped`` and clamped; on the run's device.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from wfrun.media.color_transfer import METHODS, TRANSFERS
from wfrun.media.lab import lab_to_rgb, rgb_to_lab
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


def match_frame(target: np.ndarray, ref: np.ndarray, method: str, strength: float) -> np.ndarray:
    """One frame mapped and blended by ``strength``; unchanged when the mapping fails."""
    try:
        with np.errstate(divide="raise", invalid="raise"):
            result = TRANSFERS[method](target, ref)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError) as err:
        log.warning("ColorMatch: %s failed on a frame (%s); the frame is kept as it was", method, err)
        return target.astype(np.float64)
    if strength != 1:
        result = target + strength * (result - target)
    return result


def _batch(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] != 3:
        raise NodeInputError(name, f"expected an RGB IMAGE batch [frames, height, width, 3], got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
    return value.detach().cpu().float()


@executor("ColorMatch")
def color_match(ctx: ExecContext, image_ref: Any, image_target: Any, method: str, strength: float,
                use_only_first: bool = False, **_: Any) -> tuple:
    if method not in TRANSFERS:
        raise NodeInputError("method", f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    target = _batch("image_target", image_target)
    if strength == 0:
        return (image_target,)
    ref = _batch("image_ref", image_ref)
    if use_only_first:
        ref = ref[:1]
    if ref.shape[0] != 1 and ref.shape[0] < target.shape[0]:
        raise NodeInputError("image_ref", f"{ref.shape[0]} reference frames for {target.shape[0]} target frames",
                             "give one reference frame, or at least as many as the targets")
    frames = []
    for i in range(target.shape[0]):
        ctx.check_interrupt()
        r = ref[0 if ref.shape[0] == 1 else i].numpy()
        frames.append(torch.from_numpy(match_frame(target[i].numpy(), r, method, float(strength))))
    return (torch.stack(frames).to(torch.float32).clamp_(0, 1),)


#: ColorMatchV2's method that runs in L*a*b* on the GPU in the pack (kornia there).
LAB_REINHARD = "reinhard_lab_gpu"


def reinhard_lab(target: torch.Tensor, ref: torch.Tensor, strength: float) -> torch.Tensor:
    """``reinhard_lab_gpu`` on IMAGE batches ``[frames, height, width, 3]`` (``ref`` one frame or
    as many as ``target``)."""
    src, reference = target.permute(0, 3, 1, 2), ref.permute(0, 3, 1, 2)
    src_lab = rgb_to_lab(src).flatten(2)
    ref_lab = rgb_to_lab(reference).flatten(2)
    src_std, src_mean = torch.std_mean(src_lab, dim=-1, keepdim=True, unbiased=False)
    ref_std, ref_mean = torch.std_mean(ref_lab, dim=-1, keepdim=True, unbiased=False)
    mapped = (src_lab - src_mean) * (ref_std / src_std.clamp_min(1e-6)) + ref_mean
    rgb = lab_to_rgb(mapped.view(src.shape))
    out = (1.0 - strength) * src + strength * rgb
    return out.permute(0, 2, 3, 1).float().clamp_(0, 1)


@executor("ColorMatchV2")
def color_match_v2(ctx: ExecContext, image_target: Any, image_ref: Any, method: str, strength: float,
                   **_: Any) -> tuple:
    if method not in TRANSFERS and method != LAB_REINHARD:
        raise NodeInputError("method", f"unknown method {method!r}", f"use one of {', '.join((*METHODS, LAB_REINHARD))}")
    target = _batch("image_target", image_target)
    if strength == 0:
        return (image_target,)
    ref = _batch("image_ref", image_ref)
    index = [min(i, ref.shape[0] - 1) for i in range(target.shape[0])]
    if method == LAB_REINHARD:
        device = ctx.device
        refs = ref[:1] if ref.shape[0] == 1 else ref[index]
        return (reinhard_lab(target.to(device), refs.to(device), float(strength)).cpu(),)
    frames = []
    for i in range(target.shape[0]):
        ctx.check_interrupt()
        frames.append(torch.from_numpy(match_frame(target[i].numpy(), ref[index[i]].numpy(), method, float(strength))))
    return (torch.stack(frames).to(torch.float32).clamp_(0, 1),)
