"""torch.compile of a Wan transformer as the packs ask for it (the wrapper's
WanVideoTorchCompileSettings, KJNodes' TorchCompileModelWanVideoV2): each transformer block
wrapped by ``torch.compile`` (or the whole forward), once per module, on CUDA only."""

from __future__ import annotations

import logging
import weakref
from typing import Any

import torch

log = logging.getLogger(__name__)

#: Modules already compiled: a second sampler (or seed) reuses the compiled blocks.
_COMPILED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def compile_transformer(transformer: Any, device: Any, *, backend: str, fullgraph: bool, mode: str, dynamic: bool,
                        blocks_only: bool, cache_size_limit: int) -> bool:
    """Compile ``transformer`` for ``device``; False (with a notice) where it runs eagerly:
    on a device other than CUDA, as the wrapper does."""
    if transformer in _COMPILED:
        return True
    if not str(device).startswith("cuda"):
        log.info("torch.compile is applied on CUDA only; running eagerly on %s", device)
        return False
    torch._dynamo.config.cache_size_limit = int(cache_size_limit)
    options = dict(fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode)
    if blocks_only:
        for i, block in enumerate(transformer.blocks):
            transformer.blocks[i] = torch.compile(block, **options)
    else:
        transformer.forward = torch.compile(transformer.forward, **options)
    _COMPILED.add(transformer)
    return True
