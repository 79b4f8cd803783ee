"""Where the pack's models live: ``main_device`` / ``offload_device``, block swap, VRAM management.

The pack keeps every model on the offload device (CPU) until a node needs it, moves it to
the main device (GPU) for the work, and back when the node's ``force_offload`` is set.
Block swap keeps the first ``blocks_to_swap`` transformer blocks on the offload device and
streams each one in for its own forward; wfrun does that with diffusers' group offloading
hooks on those blocks (one group per block), so the rest of the model stays resident.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: Marks a module whose parameters are managed by offloading hooks (never ``.to()`` it whole).
_HOOKED = "_wfrun_offload_hooks"


def node_device(choice: str, ctx: Any) -> str:
    """The torch device for a node's ``load_device`` / ``device`` choice."""
    return ctx.offload_device if choice in ("offload_device", "cpu") else ctx.device


def is_hooked(module: nn.Module) -> bool:
    return bool(getattr(module, _HOOKED, False))


def place_transformer(transformer: nn.Module, device: str, offload_device: str,
                      swap_blocks: int = 0, non_blocking: bool = False,
                      offload_img_emb: bool = False, offload_txt_emb: bool = False) -> nn.Module:
    """Put ``transformer`` on ``device`` except its first ``swap_blocks`` blocks (and the
    optional embedders), which stay on ``offload_device`` and stream in per forward."""
    from diffusers.hooks import apply_group_offloading

    blocks = list(transformer.blocks)
    swap_blocks = max(0, min(swap_blocks, len(blocks)))
    if swap_blocks == 0 and not (offload_img_emb or offload_txt_emb):
        return transformer.to(device)
    offloaded: list[nn.Module] = list(blocks[:swap_blocks])
    embedder = transformer.condition_embedder
    if offload_txt_emb:
        offloaded.append(embedder.text_embedder)
    if offload_img_emb and getattr(embedder, "image_embedder", None) is not None:
        offloaded.append(embedder.image_embedder)
    offloaded_ids = {id(m) for m in offloaded}
    _move_except(transformer, device, offloaded_ids)
    for module in offloaded:
        module.to(offload_device)
        apply_group_offloading(module, onload_device=torch.device(device),
                               offload_device=torch.device(offload_device), offload_type="block_level",
                               num_blocks_per_group=1, non_blocking=non_blocking,
                               use_stream=non_blocking and torch.device(device).type == "cuda")
    setattr(transformer, _HOOKED, True)
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
    """Bring a model to ``device`` for work, unless hooks already stream it."""
    if not is_hooked(module):
        module.to(device)


def offload(module: nn.Module, offload_device: str) -> None:
    """Send a model back after work (the pack's ``force_offload``), freeing GPU cache."""
    if not is_hooked(module):
        module.to(offload_device)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
