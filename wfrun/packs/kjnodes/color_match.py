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
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from wfrun.media.color_transfer import METHODS, TRANSFERS
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
