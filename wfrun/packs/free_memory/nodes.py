"""FreeMemoryImage / Latent / Model / CLIP / String: the input comes back unchanged, after Python's
garbage collector and PyTorch's CUDA cache release ran, as in the pack.

The pack's ``aggressive`` switch also unloads every ComfyUI model and, on Linux, writes to
``/proc/sys/vm/drop_caches`` (root only); wfrun does neither: its engine already frees
each value after its last use and moves models off the GPU when memory asks for it
(``models.residency``), and a workflow never gets to touch system files.
"""

from __future__ import annotations

from typing import Any


from wfrun.models import residency
from wfrun.nodes.executor import ExecContext, executor


@executor("FreeMemoryImage")
def free_memory_image(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    residency.release_cached_memory()
    return (image,)


@executor("FreeMemoryLatent")
def free_memory_latent(ctx: ExecContext, latent: Any, **_: Any) -> tuple:
    residency.release_cached_memory()
    return (latent,)


@executor("FreeMemoryModel")
def free_memory_model(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    residency.release_cached_memory()
    return (model,)


@executor("FreeMemoryCLIP")
def free_memory_clip(ctx: ExecContext, clip: Any, **_: Any) -> tuple:
    residency.release_cached_memory()
    return (clip,)


@executor("FreeMemoryString")
def free_memory_string(ctx: ExecContext, string: Any, **_: Any) -> tuple:
    """The pack's string trigger: frees memory when the string arrives, passes it on."""
    residency.release_cached_memory()
    return (string,)
