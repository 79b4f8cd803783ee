"""Where the pack's models live: ``main_device`` / ``offload_device``, block swap, VRAM management.

The pack keeps every model on the offload device (CPU) until a node needs it, moves it to
the main device (GPU) for the work, and back when the node's ``force_offload`` is set.
Block swap keeps the first ``blocks_to_swap`` transformer blocks on the offload device and
streams each one in for its own forward (``block_stream.BlockStreamer``: pinned host copies,
the next block prefetched on a side stream), so the rest of the model stays resident.

As in the pack, the swap is set up when sampling starts, on the *main* device, whatever the
loader's ``load_device``: a model loaded to the offload device keeps the GPU free for the
text and image encoders, then samples on the GPU with only its swapped blocks streaming.
(Placing it at load time on the load device would leave the resident blocks on the CPU and
sample there, minutes per step for a 14B model.)

The streamer is kept in the transformer's hook registry (``module_hooks.BLOCK_STREAM``,
see ``models/module_hooks.py``); :func:`streamer` finds it, and with it the streamed
modules that :func:`onload` and :func:`offload` leave where they are.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn

from wfrun.models import host_copies, lora_files, module_hooks


def node_device(choice: str, ctx: Any) -> str:
    """The torch device for a node's ``load_device`` / ``device`` choice."""
    return ctx.offload_device if choice in ("offload_device", "cpu") else ctx.device


def streamer(module: nn.Module) -> Any:
    """The ``BlockStreamer`` block swap set up on ``module``, or None. Its ``streamed_ids``
    are the sub-modules the hooks own (never ``.to()`` such a module whole)."""
    return module_hooks.find(module, module_hooks.BLOCK_STREAM)


def is_hooked(module: nn.Module) -> bool:
    """Whether block swap is set up on ``module``."""
    return streamer(module) is not None


def blocks_to_swap(block_swap: Any, vram: Any, blocks: int) -> int:
    """How many of ``blocks`` transformer blocks stay on the offload device while sampling,
    from the BlockSwap args or else VRAMManagement's ``offload_percent``."""
    if block_swap is not None:
        return min(block_swap.blocks_to_swap, blocks)
    if vram is not None and vram.offload_percent > 0:
        return max(1, round(vram.offload_percent * blocks))
    return 0


def place_transformer(transformer: nn.Module, device: str, offload_device: str,
                      swap_blocks: int = 0, non_blocking: bool = False,
                      offload_img_emb: bool = False, offload_txt_emb: bool = False) -> nn.Module:
    """Put ``transformer`` on ``device`` except its first ``swap_blocks`` blocks (and the
    optional embedders), which stay in host memory and stream in per forward (the pack's
    ``offload_device`` is the CPU; another one is refused). ``non_blocking`` (the node's
    ``use_non_blocking``) prefetches the next block while one computes."""
    from wfrun.models.block_stream import BlockStreamer

    blocks = list(transformer.blocks)
    swap_blocks = max(0, min(swap_blocks, len(blocks)))
    if is_hooked(transformer):
        raise RuntimeError("block swap is already set up on this model")
    if torch.device(offload_device).type != "cpu":
        raise ValueError(f"block swap keeps blocks in CPU memory, not on {offload_device}")
    host_copies.forget(transformer)  # from here block swap decides where each weight lives
    if swap_blocks == 0 and not (offload_img_emb or offload_txt_emb):
        return transformer.to(device)
    embedder = transformer.condition_embedder
    streamed: list[nn.Module] = []  # in call order: the embedders run before the blocks
    if offload_txt_emb:
        streamed.append(embedder.text_embedder)
    if offload_img_emb and getattr(embedder, "image_embedder", None) is not None:
        streamed.append(embedder.image_embedder)
    streamed += blocks[:swap_blocks]
    streamed_ids = {id(m) for m in streamed}
    _move_except(transformer, device, streamed_ids)
    module_hooks.attach(transformer, module_hooks.BLOCK_STREAM,
                        BlockStreamer(streamed, device, prefetch=non_blocking))
    return transformer


def _move_except(module: nn.Module, device: str, skip: set[int]) -> None:
    """Move every parameter and buffer of ``module`` to ``device`` except those under ``skip``."""
    for child in module.children():
        if id(child) in skip:
            continue
        if any(id(m) in skip for m in child.modules()):
            _move_except(child, device, skip)
        else:
            child.to(device)
    for name, param in list(module._parameters.items()):
        if param is not None:
            module._parameters[name] = nn.Parameter(param.data.to(device), requires_grad=False)
    for name, buf in list(module._buffers.items()):
        if buf is not None:
            module._buffers[name] = buf.to(device)


def onload(module: nn.Module, device: str) -> None:
    """Bring a model to ``device`` for work; with block swap, its resident part only. A
    model coming from host memory to a GPU keeps its host copy (``host_copies``) while
    there is room for it, so that sending it back later costs nothing."""
    if is_hooked(module):
        _move_except(module, device, streamer(module).streamed_ids)
    elif torch.device(device).type == "cuda" and host_copies.keep(module):
        host_copies.onload(module, device)
    else:
        module.to(device)


def offload(module: nn.Module, offload_device: str) -> None:
    """Send a model back after work (the pack's ``force_offload``), freeing GPU cache; the
    swapped blocks are already there between forwards. Weights unchanged on the GPU since
    they came return to their kept host copies; only the others are copied back. A LoRA
    merge kept for the next pass is undone first: its original weights are the ones the
    host copies match, and the merged ones would otherwise stay on the GPU with them. Held
    under the model's merge lock: a merge made ahead on a worker finishes before the move."""
    with lora_files.merge_lock(module):
        lora_files.unmerge(module)
        if is_hooked(module):
            _move_except(module, offload_device, streamer(module).streamed_ids)
        else:
            if torch.device(offload_device).type == "cpu":
                host_copies.restore(module)
            module.to(offload_device)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def swapped(transformer: nn.Module, device: str, offload_device: str, swap: Any) -> Iterator[bool]:
    """Block swap for one sampling pass of a core MODEL (``handles.BlockSwap``): set up on
    entry, taken off on exit; yields whether it was set up (with a swap asked for, on a
    transformer not already streaming; callers ask for it on CUDA only, where it saves
    memory).

    Set up per pass, not once per model, because core MODELs share one transformer between
    patch branches and LoRAs are merged for a pass by replacing parameters (the streamer
    holds the tensors it was given): entered inside the merge, it streams the merged
    weights. After it, the transformer is left where the pass had it (resident part on the
    device, swapped blocks in host memory) for the caller to track or offload."""
    if swap is None or is_hooked(transformer):
        yield False
        return
    place_transformer(transformer, device, offload_device, swap_blocks=int(swap.blocks),
                      non_blocking=bool(swap.non_blocking), offload_img_emb=bool(swap.offload_img_emb),
                      offload_txt_emb=bool(swap.offload_txt_emb))
    try:
        yield True
    finally:
        streamer(transformer).remove()
        module_hooks.detach(transformer, module_hooks.BLOCK_STREAM)
