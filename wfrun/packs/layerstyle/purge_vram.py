"""LayerStyle's ``LayerUtility: PurgeVRAM V2`` (``py/purge_vram.py``; inputs unchanged since
the node came, 2025-02-13): ``anything`` passed on after a memory purge.

The pack runs Python's garbage collector and empties the CUDA cache, then, with
``purge_models``, unloads every ComfyUI model and empties the cache again (``purge_cache`` is
read by no code: the first clean-up always runs). wfrun does the same with its own models:
``purge_models`` sends every model its residency keeps on the GPU back to its offload
device (``wfrun.models.residency.release_all``); a later node brings back what it needs,
as ComfyUI reloads an unloaded model. It is an output node in the pack, so a branch that
ends in it runs.
"""

from __future__ import annotations

from typing import Any


from wfrun.models import residency
from wfrun.nodes.executor import ExecContext, executor


@executor("LayerUtility: PurgeVRAM V2")
def purge_vram_v2(ctx: ExecContext, anything: Any, purge_cache: Any, purge_models: Any,
                  **_: Any) -> tuple:
    residency.release_cached_memory()
    if purge_models:
        residency.release_all()
        residency.release_cached_memory()
    return (anything,)
