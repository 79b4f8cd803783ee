"""ImageExpandBatch+'s resampling of a batch to ``size`` frames, which MaskExpandBatch+ reuses.

"expand" picks frames evenly: shrinking, frame ``i`` is ``round(i (n-1)/(size-1))``;
growing, ``floor((i + 1/2) n / size)``. "repeat all" tiles the batch, "repeat first" /
"repeat last" pad with the first / last frame (and cut when shorter). A size of 1 or less
keeps the first ``size`` frames, as the pack's slice does (none for 0).
"""

from __future__ import annotations

import math

import torch

from wfrun.nodes.executor import NodeInputError

METHODS = ("expand", "repeat all", "repeat first", "repeat last")


def expand_batch(frames: torch.Tensor, size: int, method: str) -> torch.Tensor:
    if method not in METHODS:
        raise NodeInputError("method", f"method: unknown option {method!r}", f"use one of {', '.join(METHODS)}")
    count = frames.shape[0]
    if count == size:
        return frames
    if size <= 1:
        return frames[:max(size, 0)]
    if method == "expand":
        if size < count:
            scale = (count - 1) / (size - 1)
            index = [min(round(i * scale), count - 1) for i in range(size)]
        else:
            scale = count / size
            index = [min(math.floor((i + 0.5) * scale), count - 1) for i in range(size)]
        return frames[index]
    if method == "repeat all":
        return frames.repeat([math.ceil(size / count)] + [1] * (frames.ndim - 1))[:size]
    if size < count:
        return frames[:size]
    pad_frame = frames[:1] if method == "repeat first" else frames[-1:]
    padding = pad_frame.repeat([size - count] + [1] * (frames.ndim - 1))
    return torch.cat([padding, frames] if method == "repeat first" else [frames, padding], dim=0)
