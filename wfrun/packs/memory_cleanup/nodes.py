"""``RAMCleanup`` and ``VRAMCleanup``: the input passed on unchanged after a memory cleanup.

* LAOGOU-666/Comfyui-Memory_Cleanup ``RAMCleanup`` (``anything``, clean_file_cache,
  clean_processes, clean_dlls, retry_times): the pack calls Windows APIs to empty the
  working sets of *every process on the machine* and the system file cache, sleeping a
  second per retry; on other systems those calls fail and are only printed. wfrun touches
  no other process and no system setting: it runs Python's garbage collector and passes
  ``anything`` on.
* ``VRAMCleanup``: two packs use the name. Memory_Cleanup's (``anything``, offload_model,
  offload_cache) unloads every ComfyUI model and empties the CUDA cache; QwenVL-Mod's
  (``input``, cleanup_mode) empties the CUDA cache (and for "Full Cleanup" / "T2V + QwenVL
  Fix" unloads every model). wfrun's engine already frees each value after its last use
  and moves models off the GPU as memory asks (``models.residency``), so here it is the
  garbage collector and ``torch.cuda.empty_cache()``; the value is passed on.
"""

from __future__ import annotations

import gc
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor

QWENVL_PACK = "ComfyUI-QwenVL-Mod"
MEMORY_CLEANUP_PACK = "Comfyui-Memory_Cleanup"


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@executor("RAMCleanup")
def ram_cleanup(ctx: ExecContext, anything: Any = None, **_: Any) -> tuple:
    gc.collect()
    return (anything,)


@executor("VRAMCleanup", pack=MEMORY_CLEANUP_PACK)
def vram_cleanup(ctx: ExecContext, anything: Any = None, **_: Any) -> tuple:
    _free()
    return (anything,)


@executor("VRAMCleanup", pack=QWENVL_PACK)
def vram_cleanup_qwenvl(ctx: ExecContext, input: Any = None, **_: Any) -> tuple:  # noqa: A002 - the pack's name
    _free()
    return (input,)
