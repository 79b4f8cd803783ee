"""ReservedVRAMSetter (``nodes.py``): sets how much VRAM ComfyUI's model manager leaves free,
optionally frees memory first, and passes ``anything`` on.

Two shapes exist. Up to 2025-10-10 the node takes ``anything`` (required), ``reserved`` and
``mode`` and returns ``anything`` alone. From 2025-10-21 (the 1.0.0 release) ``anything`` is
optional, ``seed``, ``auto_max_reserved`` and ``clean_gpu_before`` are added, and it returns
three values: ``anything`` (or ComfyUI's ``ExecutionBlocker`` when nothing is connected),
``seed`` unchanged (``-1`` only makes ComfyUI re-run the node; the output is still ``-1``)
and the reserve it set, in GB rounded to 2 places.

The reserve: ``manual`` is ``max(0, reserved)``; ``auto`` is the GPU memory in use on device 0
plus ``reserved``, at least 0 and at most ``auto_max_reserved`` when that is above 0; with no
GPU to read, ``auto`` falls back to the manual value. That follows the pack's newest code
(2026-02-05); between 2025-10-21 and then, ``auto`` without NVML returned ``reserved``
unclamped, a negative setting only a machine without NVML could see, under the same 1.0.0
version. The pack reads device 0's use from NVML, else ``torch.cuda.mem_get_info``; wfrun
reads the latter, which reports the same device-wide use. In wfrun the setting itself changes
nothing (wfrun's budget is ``--gpu-memory``); ``clean_gpu_before`` frees wfrun's models as
the pack frees ComfyUI's (:mod:`wfrun.models.residency`).

With nothing on ``anything``, wfrun hands on :data:`BLOCKED`, which no executor accepts: a
node reading it stops the run naming its input, where ComfyUI would skip that node.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import residency
from wfrun.nodes.blocked import Blocked
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

_GB = 1024 ** 3


#: ReservedVRAMSetter's ``output`` when nothing was connected to ``anything``.
BLOCKED = Blocked("ReservedVRAMSetter: nothing on its 'anything' input, ComfyUI skips the nodes that read it")


def gpu_used_gb() -> float | None:
    """Memory in use on CUDA device 0 in GB (every process's), or None without a GPU."""
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info(0)
    return (total - free) / _GB


def reserved_gb(reserved: float, mode: str, auto_max_reserved: float, used_gb: float | None) -> float:
    """The reserve the node sets and returns, in GB rounded to 2 places (see the module docs)."""
    if mode == "auto" and used_gb is not None:
        value = max(0.0, used_gb + reserved)
        if auto_max_reserved > 0:
            value = min(value, auto_max_reserved)
        return round(value, 2)
    return round(max(0.0, reserved), 2)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a number of GB, found {value!r}")
    return float(value)


#: The date of the 1.0.0 shape (seed, auto_max_reserved, clean_gpu_before; three outputs).
THREE_OUTPUTS_SINCE = "2025-10-21"


@executor("ReservedVRAMSetter")
def reserved_vram_setter(ctx: ExecContext, reserved: Any, mode: Any, seed: Any, auto_max_reserved: Any,
                         clean_gpu_before: Any, anything: Any = None, **_: Any) -> tuple:
    """A node saved in the older shape (``ctx.saved_date`` before 2025-10-21) gets the newer
    inputs at their defaults from the engine and returns ``anything`` alone, as it did."""
    _number("reserved", reserved)
    if ctx.saved_date is not None and ctx.saved_date < THREE_OUTPUTS_SINCE:
        return (anything,)
    if mode not in ("manual", "auto"):
        raise NodeInputError("mode", f"mode: expected 'manual' or 'auto', found {mode!r}")
    value = reserved_gb(float(reserved), mode, _number("auto_max_reserved", auto_max_reserved), gpu_used_gb())
    if clean_gpu_before:
        residency.release_all()
        residency.release_cached_memory()
    return (BLOCKED if anything is None else anything, seed, value)
