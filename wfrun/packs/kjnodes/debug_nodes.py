"""KJNodes' inspection and trigger nodes: GetLatentSizeAndCount, DummyOut, VRAM_Debug
(``nodes/image_nodes.py``, ``nodes/nodes.py``).

- GetLatentSizeAndCount hands the LATENT on with its sizes in latent units: batch,
  channels, frames (0 for an image latent [B, C, H, W]), height, width, in that order in
  every revision (the first one's output *labels* said width before height; the values
  were already height, width).
- DummyOut hands its input on; it is an output node, so a branch ending in it runs.
- VRAM_Debug hands its inputs on unchanged (they only order it in the graph) after
  Python's garbage collector (``gc_collect``) and PyTorch's CUDA cache release
  (``empty_cache``), and reports the free memory before and after: on CUDA the device's
  free bytes plus what PyTorch holds cached but unused (ComfyUI's ``get_free_memory``), on
  the CPU the available system memory. ``unload_all_models`` does nothing here: wfrun's
  engine frees each value after its last use and moves models off the GPU when memory asks
  for it (``models.residency``). Its outputs follow the revision the file was saved with
  (the node changed them five times): ``(model, before, after)`` until 2024-02,
  ``(image, before, after)``, then ``(image, model, before, after)``, briefly
  ``(any, before, after)``, and since 2024-04-11 ``(any, image, model, before, after)``.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


@executor("GetLatentSizeAndCount")
def get_latent_size_and_count(ctx: ExecContext, latent: Any, **_: Any) -> tuple:
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim not in (4, 5):
        raise NodeInputError("latent", "expected a LATENT with samples [B, C, H, W] or [B, C, T, H, W]",
                             "connect a LATENT output")
    if samples.ndim == 5:
        b, c, t, h, w = samples.shape
    else:
        (b, c, h, w), t = samples.shape, 0
    return latent, int(b), int(c), int(t), int(h), int(w)


@executor("DummyOut")
def dummy_out(ctx: ExecContext, any_input: Any = None, **_: Any) -> tuple:
    return (any_input,)


def free_memory(device: str) -> int:
    """Free bytes where the models run (see the module docstring); 0 when unknown."""
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(dev)
        stats = torch.cuda.memory_stats(dev)
        return int(free + stats.get("reserved_bytes.all.current", 0) - stats.get("active_bytes.all.current", 0))
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def _outputs(saved_date: str | None, inputs: dict[str, Any], before: int, after: int) -> tuple:
    """The outputs in the order of the revision the file was saved with."""
    date = saved_date or "9999"
    if date < "2024-02-26":
        return inputs.get("model"), before, after
    if date < "2024-03-14":
        return inputs.get("image_passthrough"), before, after
    if date < "2024-04-08":
        return inputs.get("image_passthrough"), inputs.get("model_passthrough"), before, after
    if date < "2024-04-11":
        return inputs.get("input"), before, after
    return inputs.get("any_input"), inputs.get("image_pass"), inputs.get("model_pass"), before, after


@executor("VRAM_Debug")
def vram_debug(ctx: ExecContext, empty_cache: bool, gc_collect: bool, **inputs: Any) -> tuple:
    """The first revisions had neither switch (``empty_cuda_cache`` then); the engine gives
    such files the newest defaults, so they run both, which changes no value."""
    before = free_memory(ctx.device)
    if gc_collect:
        gc.collect()
    if (empty_cache or inputs.get("empty_cuda_cache")) and torch.cuda.is_available():
        torch.cuda.empty_cache()
    after = free_memory(ctx.device)
    log.info("VRAM_Debug node %s: free memory %s before, %s after", ctx.node_id, f"{before:,}", f"{after:,}")
    return _outputs(ctx.saved_date, inputs, before, after)
