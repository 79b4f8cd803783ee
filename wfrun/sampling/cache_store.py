"""Where the step caches (TeaCache, MagCache, EasyCache) keep their latent-sized tensors.

The packs copy the blocks' input to their ``cache_device`` before the blocks run and take
the residual there after them. Their default, ``offload_device``, is host memory: per
computed prediction two blocking copies of the whole token sequence to pageable memory
(0.7 GB each for a 14B model at 81 frames 832x480), the GPU idle while they run, and the
subtraction on the CPU. On an H200 that made each computed CFG step of the end-frame job
1.4 s slower than a step without the cache (bench/RESULTS.md, session 24).

Here the arithmetic stays with the tensors it reads (the step caches compute on the
compute device: the same elementwise operations, so the same bits), and a tensor is only
*kept* where the card allows it:

- on the compute device when the user asked for it (``main_device``), or while the card
  keeps :data:`wfrun.models.residency.KEEP_FREE_SHARE` free with it there — the rule by
  which a ``force_offload`` model stays on a card with room, since what the packs' offload
  protects is the memory of a smaller card, which is then still honoured;
- otherwise in page-locked host memory, by a copy that does not wait for the GPU. Such a
  copy is only ever read back by a later copy to the GPU on the same stream (:func:`back`,
  which does not wait either), which runs after it, so nothing reads it early.

On the CPU (and wherever the tensor already is on ``cache_device``) this is the packs'
plain copy.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import residency


def stays_on_device(tensor: torch.Tensor) -> bool:
    """True when a copy of ``tensor`` may be kept on its own (CUDA) device: the card keeps
    its free share with the copy there."""
    if tensor.device.type != "cuda":
        return False
    free, total = residency.free_memory(tensor.device)
    return free - tensor.numel() * tensor.element_size() >= residency.KEEP_FREE_SHARE * total


def keep(tensor: torch.Tensor, cache_device: Any, *, owned: bool = False) -> torch.Tensor:
    """A copy of ``tensor`` for a later step, held on ``cache_device`` or (see the module)
    on the tensor's own device. ``owned``: ``tensor`` is a fresh result nobody else holds,
    so where it may stay it is kept as it is rather than copied."""
    target = torch.device(cache_device)
    if target.type == "cuda" and target.index is None and tensor.device.type == "cuda":
        target = tensor.device
    if target == tensor.device or stays_on_device(tensor):
        return tensor if owned else tensor.clone()
    if tensor.device.type == "cuda" and target.type == "cpu":
        held = torch.empty(tensor.shape, dtype=tensor.dtype, device="cpu", pin_memory=True)
        return held.copy_(tensor, non_blocking=True)
    return tensor.to(target, copy=True)


def back(tensor: torch.Tensor, device: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A kept tensor on ``device`` (in ``dtype``) for the step's arithmetic. A page-locked host
    copy comes without the host waiting for the GPU's queue (the blocks just launched): the
    copy is ordered on the stream after the one that filled it and before what reads it."""
    moved = tensor.to(device, non_blocking=tensor.is_pinned())
    return moved if dtype is None else moved.to(dtype)
