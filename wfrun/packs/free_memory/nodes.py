"""ComfyUI-FreeMemory's FreeMemoryImage / Latent / Model / CLIP (``free_memory_node.py``):
hand their input on unchanged.

In ComfyUI they first collect garbage and empty the CUDA cache; with ``aggressive`` they
also unload every model and, on Linux, write to ``/proc/sys/vm/drop_caches``. wfrun's
engine frees each value after its last use and moves models between devices itself, so
here they only collect garbage and empty the CUDA cache (never touching the system's page
cache, nor unloading models later nodes still need)."""

from __future__ import annotations

import gc
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@executor("FreeMemoryImage", volatile=True)
def free_memory_image(ctx: ExecContext, image: Any, aggressive: bool, **_: Any) -> tuple:
    _free()
    return (image,)


@executor("FreeMemoryLatent", volatile=True)
def free_memory_latent(ctx: ExecContext, latent: Any, aggressive: bool, **_: Any) -> tuple:
    _free()
    return (latent,)


@executor("FreeMemoryModel", volatile=True)
def free_memory_model(ctx: ExecContext, model: Any, aggressive: bool, **_: Any) -> tuple:
    _free()
    return (model,)


@executor("FreeMemoryCLIP", volatile=True)
def free_memory_clip(ctx: ExecContext, clip: Any, aggressive: bool, **_: Any) -> tuple:
    _free()
    return (clip,)
