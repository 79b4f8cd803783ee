"""Host copies kept while a model works on the GPU, so that sending it back is free.

``module.to("cpu")`` after work copies every weight back over PCIe into fresh pageable
memory: ~12 s for a 13.5 GiB Wan 2.2 expert on an H200 (bench/RESULTS.md), paid each time
a card too small for two experts swaps them, and again per seed. The weights in host
memory before the move are still valid when the GPU copy was never changed, so
:func:`onload` keeps them, and :func:`restore` puts them back in place of the GPU tensors
instead of copying. A weight changed on the GPU (replaced, e.g. a LoRA merged by
swapping parameters, or changed in place, which bumps its version counter) is not
restored and goes back by the normal copy.

The cost is host memory: the host copy stays while the GPU copy exists, as ComfyUI keeps
models in RAM. :func:`keep` allows it only while the copy takes at most
:data:`HOST_SHARE` of the memory still available, so a small machine behaves as before.
Only plain tensors and parameters are kept; a model with tensor subclasses (GGUF) moves
as before.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

#: Keep host copies only while they take at most this share of available host memory.
HOST_SHARE = 0.5


@dataclass
class _Kept:
    owner: nn.Module
    name: str
    is_parameter: bool
    host: torch.Tensor
    device_ref: weakref.ref
    version: int


_KEPT: "weakref.WeakKeyDictionary[nn.Module, list[_Kept]]" = weakref.WeakKeyDictionary()


def _available_host_bytes() -> int | None:
    """Available host memory (Linux ``MemAvailable``), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _tensors(module: nn.Module):
    """Every (owner, name, tensor, is_parameter) of ``module``'s parameters and buffers."""
    for owner in module.modules():
        for name, tensor in owner._parameters.items():
            if tensor is not None:
                yield owner, name, tensor, True
        for name, tensor in owner._buffers.items():
            if tensor is not None:
                yield owner, name, tensor, False


def _plain(tensor: torch.Tensor, is_parameter: bool) -> bool:
    return type(tensor) is (nn.Parameter if is_parameter else torch.Tensor) and type(tensor.data) is torch.Tensor


def keep(module: nn.Module) -> bool:
    """Whether :func:`onload` may keep ``module``'s host copy: plain tensors only, and room
    for the copy in host memory."""
    host_bytes = 0
    for _, _, tensor, is_parameter in _tensors(module):
        if not _plain(tensor, is_parameter):
            return False
        if tensor.device.type == "cpu":
            host_bytes += tensor.numel() * tensor.element_size()
    if host_bytes == 0:
        return False
    available = _available_host_bytes()
    return available is not None and host_bytes <= HOST_SHARE * available


def onload(module: nn.Module, device: str) -> None:
    """``module`` to ``device`` with its host tensors kept for :func:`restore`. The device
    copies are made outside inference mode (jobs run inside it), so they are normal tensors
    with a version counter that shows a later in-place change."""
    with torch.inference_mode(False):
        _onload(module, device)


def _onload(module: nn.Module, device: str) -> None:
    kept = _KEPT.setdefault(module, [])
    done: dict[int, torch.Tensor] = {}  # a tensor shared by two modules (tied weights) moves once
    for owner, name, tensor, is_parameter in list(_tensors(module)):
        if tensor.device.type != "cpu":
            continue
        moved = done.get(id(tensor))
        if moved is None:
            moved = tensor.data.to(device, non_blocking=tensor.is_pinned())
            if is_parameter:
                moved = nn.Parameter(moved, requires_grad=tensor.requires_grad)
            done[id(tensor)] = moved
        (owner._parameters if is_parameter else owner._buffers)[name] = moved
        kept.append(_Kept(owner, name, is_parameter, tensor, weakref.ref(moved), moved._version))
    module.to(device)  # anything left (tensors not on the host) the usual way


def restore(module: nn.Module) -> int:
    """Put back the kept host tensors of ``module`` whose GPU copies are unchanged; returns
    how many. The caller moves what is left (``module.to``)."""
    restored = 0
    for k in _KEPT.pop(module, []):
        table = k.owner._parameters if k.is_parameter else k.owner._buffers
        current = table.get(k.name)
        if current is not None and current is k.device_ref() and current._version == k.version:
            table[k.name] = k.host
            restored += 1
    return restored


def forget(module: nn.Module) -> None:
    """Drop ``module``'s kept host copies (block swap takes over where its weights live)."""
    _KEPT.pop(module, None)
