"""Which models stay on the GPU between nodes, as ComfyUI's model management keeps them.

ComfyUI leaves a model loaded after its node ran and frees it only when another needs the
room; moving a 13.5 GiB Wan 2.2 expert host → GPU → host costs ~12 s per sampler on an
H200 (bench/RESULTS.md). Here a model brought in for work stays resident after it; before
one is brought in, resident models go back to their offload device — least recently used
first — until the free memory covers the incoming weights plus a working margin for the
activations. The next sampler of the same model (the next seed of ``--seeds``, the second
pass of a two-sampler job) then starts at once, and a card too small for two experts
still holds only one at a time.

Only modules on a CUDA device are tracked; on the CPU nothing moves.

A GPU memory budget (``wfrun run --gpu-memory GIB``, :func:`gpu_budget`) makes these
decisions as on a card of that size: a user with a 24 GiB card running on a bigger one
sees the memory their card would allow, and one sharing a GPU leaves the rest alone.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import OrderedDict
from typing import Any, Iterator

import torch
from torch import nn

from wfrun.models import placement

#: Memory kept free for activations and workspaces beyond the weights: this share of the
#: card, at least ``MIN_MARGIN`` (a 14B forward at 81 frames 832x480 needs a few GiB).
MARGIN_SHARE = 0.2
MIN_MARGIN = 4 * 2**30

_RESIDENT: "OrderedDict[int, tuple[weakref.ref, str]]" = OrderedDict()

#: The GPU memory wfrun may use, in bytes (None: the whole card); see :func:`gpu_budget`.
_BUDGET: int | None = None


def _bytes_to_move(module: nn.Module, device: torch.device) -> int:
    """Bytes of ``module``'s parameters and buffers not yet on ``device``."""
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.device != device:
            total += tensor.numel() * tensor.element_size()
    return total


def free_memory(device: Any) -> tuple[int, int]:
    """Free and total bytes of ``device`` as wfrun may use them: the card's, or within the
    budget (what PyTorch holds counts as used; memory others hold on the card still does)."""
    free, total = torch.cuda.mem_get_info(torch.device(device))
    if _BUDGET is None:
        return int(free), int(total)
    held = torch.cuda.memory_reserved(torch.device(device))
    return max(0, min(int(free), _BUDGET - int(held))), min(_BUDGET, int(total))


@contextlib.contextmanager
def gpu_budget(budget_bytes: int | None) -> Iterator[None]:
    """Within: residency decisions as on a card of ``budget_bytes`` (None: no limit)."""
    global _BUDGET
    previous, _BUDGET = _BUDGET, budget_bytes
    try:
        yield
    finally:
        _BUDGET = previous


def bring(module: nn.Module, device: Any, offload_device: Any = "cpu") -> None:
    """Put ``module`` on ``device`` for work, first sending least recently used resident
    models back (each to its own offload device) until it fits with the working margin; it
    stays there afterwards, to go back to ``offload_device`` when room is needed."""
    device = torch.device(device)
    if device.type != "cuda":
        placement.onload(module, str(device))
        return
    need = _bytes_to_move(module, device)
    key = id(module)
    for other_key in list(_RESIDENT):
        if other_key == key:
            continue
        free, total = free_memory(device)
        if free >= need + max(MIN_MARGIN, int(MARGIN_SHARE * total)):
            break
        ref, offload_device = _RESIDENT.pop(other_key)
        other = ref()
        if other is not None:
            placement.offload(other, offload_device)
    placement.onload(module, str(device))
    _RESIDENT.pop(key, None)
    _RESIDENT[key] = (weakref.ref(module, lambda _, k=key: _RESIDENT.pop(k, None)), str(offload_device))


#: ``force_offload`` leaves a model on a card that keeps at least this share free with it
#: there: the copy back (15.5 GiB of a 14B fp8 model: ~15 s into pageable host memory,
#: bench/RESULTS.md) buys nothing on a card with room, and ``bring`` still sends it back
#: the moment another model needs the space. On a smaller card it goes, as the packs send it.
KEEP_FREE_SHARE = 0.5


def track(module: nn.Module, device: Any, offload_device: Any = "cpu") -> None:
    """Count ``module``, already on ``device`` (a loader put it there directly), as resident,
    so that :func:`bring` may send it back to ``offload_device`` when room is needed."""
    if torch.device(device).type != "cuda":
        return
    key = id(module)
    _RESIDENT.pop(key, None)
    _RESIDENT[key] = (weakref.ref(module, lambda _, k=key: _RESIDENT.pop(k, None)), str(offload_device))


def done(module: nn.Module, device: Any, offload_device: Any = "cpu", *, force_offload: bool) -> None:
    """After a node's work on ``device``: the packs' ``force_offload`` as ComfyUI's memory
    management would weigh it — the model stays (tracked, first to go when room is needed)
    while the card keeps :data:`KEEP_FREE_SHARE` free, else it goes back now."""
    if torch.device(device).type != "cuda":
        if force_offload:
            placement.offload(module, str(offload_device))
        return
    track(module, device, offload_device)
    if not force_offload:
        return
    free, total = free_memory(device)
    if free >= KEEP_FREE_SHARE * total:
        return
    _RESIDENT.pop(id(module), None)
    placement.offload(module, str(offload_device))


_LOADS = threading.Lock()
_CLAIMED: dict[str, int] = {}


@contextlib.contextmanager
def load_target(nbytes: int, device: Any, offload_device: Any = "cpu") -> Iterator[str]:
    """Where a loader that ComfyUI would load into host memory may put a model of ``nbytes``:
    straight onto ``device`` when the card keeps :data:`KEEP_FREE_SHARE` free with it there
    (and with the loads in flight, which claim their bytes until they end), else
    ``offload_device``. Loading onto the GPU skips the copy into host memory and the move at
    the first sampler (about 5 and 3 s for a 13.5 GiB expert on an H200, bench/RESULTS.md);
    the caller tracks such a model (:func:`track`) so it goes back when room is needed. Under
    a budget (``--gpu-memory``) or on a card that would fill up, the model loads into host
    memory as before, where a host copy makes sending it back free."""
    device = torch.device(device)
    key = str(device)
    claimed = False
    if device.type == "cuda" and _BUDGET is None:
        with _LOADS:
            free, total = free_memory(device)
            if free - _CLAIMED.get(key, 0) - nbytes >= KEEP_FREE_SHARE * total:
                _CLAIMED[key] = _CLAIMED.get(key, 0) + nbytes
                claimed = True
    try:
        yield key if claimed else str(offload_device)
    finally:
        if claimed:
            with _LOADS:
                _CLAIMED[key] -= nbytes


def release_all() -> None:
    """Send every resident model back to its offload device (end of a job that must free
    the GPU, tests)."""
    while _RESIDENT:
        _, (ref, offload_device) = _RESIDENT.popitem(last=False)
        module = ref()
        if module is not None:
            placement.offload(module, offload_device)


def send_back(module: nn.Module) -> None:
    """Send one resident model back to its offload device now (a workflow's unload node);
    a module that is not resident is left where it is."""
    entry = _RESIDENT.pop(id(module), None)
    if entry is not None:
        placement.offload(module, entry[1])


def release_cached_memory() -> None:
    """Python's garbage collector, then PyTorch's cached CUDA blocks given back to the driver
    (what ComfyUI's ``soft_empty_cache`` does): the one body of the packs' memory-cleanup nodes."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()


def resident() -> list[nn.Module]:
    """The modules kept on a GPU now, least recently used first."""
    return [m for ref, _ in _RESIDENT.values() if (m := ref()) is not None]


@contextlib.contextmanager
def lent(module: nn.Module, device: Any, offload_device: Any = "cpu") -> Iterator[None]:
    """``module`` on ``device`` for one piece of work (room made as :func:`bring` does), then
    back on ``offload_device`` — for models ComfyUI keeps off the GPU between uses (text
    and CLIP-vision encoders)."""
    bring(module, device, offload_device)
    try:
        yield
    finally:
        if torch.device(device).type == "cuda":
            _RESIDENT.pop(id(module), None)
            placement.offload(module, str(offload_device))
