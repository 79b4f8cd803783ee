"""torch.compile of a Wan transformer as the packs ask for it (the wrapper's
WanVideoTorchCompileSettings, KJNodes' TorchCompileModelWanVideoV2): each transformer block
wrapped by ``torch.compile`` (or the whole forward), once per module, on CUDA only."""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path
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
    use_compile_cache()
    torch._dynamo.config.cache_size_limit = int(cache_size_limit)
    options = dict(fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode)
    if blocks_only:
        for i, block in enumerate(transformer.blocks):
            transformer.blocks[i] = torch.compile(block, **options)
    else:
        transformer.forward = torch.compile(transformer.forward, **options)
    _COMPILED.add(transformer)
    return True


def use_compile_cache() -> Path:
    """Keep compiled kernels between runs: Inductor's and Triton's caches under wfrun's cache
    folder (``$WFRUN_CACHE/compile``, else ``~/.cache/wfrun/compile``) instead of ``/tmp``,
    which many machines empty at boot, so only the first run pays for compiling. Variables
    the user set are left alone."""
    root = Path(os.environ.get("WFRUN_CACHE") or Path.home() / ".cache" / "wfrun") / "compile"
    # Inductor writes its default (/tmp/torchinductor_<user>) into the variable the first time
    # anything asks for its cache folder, often at import: that value is not the user's choice
    inductor = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if inductor is None or inductor == _inductor_default():
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(root / "inductor")
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    return root


def _inductor_default() -> str | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # an older torch: it sets nothing at import there
        return None
    return os.path.abspath(default_cache_dir())
