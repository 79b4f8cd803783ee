"""princepainter's ``PainterVRAM`` (Comfyui-PainterVRAM ``nodes.py``, 2025-11-28; the same node
was also shipped inside Comfyui-PainterFLF2V, whose ``aux_id`` saved files carry): a memory
clean-up that passes ``anything`` on.

In the pack, ``clean_gpu_before`` runs Python's garbage collector, unloads every ComfyUI
model and empties the CUDA cache; wfrun does the same with its own models (every model its
residency keeps on a GPU goes back to its offload device; a later node brings back what it
needs, as ComfyUI reloads an unloaded model). ``reserved`` and ``mode`` set ComfyUI's
``EXTRA_RESERVED_VRAM``, the VRAM its model manager leaves free for other programs: a
placement setting that changes no computed value; wfrun's own budget is ``--gpu-memory``.

With nothing on ``anything`` the pack returns an ``ExecutionBlocker``, so ComfyUI skips the
nodes that read the output: wfrun hands on :data:`BLOCKED`, which no executor accepts, so a
node reading it stops the run naming its input instead of being skipped silently. The node
is an output node in the pack, so a branch that ends in it runs.
"""

from __future__ import annotations

from typing import Any

from wfrun.models import residency
from wfrun.nodes.blocked import Blocked
from wfrun.nodes.executor import ExecContext, executor


#: PainterVRAM's output when nothing was connected to ``anything``.
BLOCKED = Blocked("PainterVRAM: nothing on its 'anything' input, ComfyUI skips the nodes that read it")


@executor("PainterVRAM")
def painter_vram(ctx: ExecContext, reserved: Any, mode: Any, clean_gpu_before: Any, anything: Any = None,
                 **_: Any) -> tuple:
    if clean_gpu_before:
        residency.release_all()
        residency.release_cached_memory()
    return (BLOCKED if anything is None else anything,)
