"""torch.compile of a Wan transformer: as the packs ask for it (the wrapper's
WanVideoTorchCompileSettings, KJNodes' TorchCompileModelWanVideoV2: each transformer block
wrapped by ``torch.compile``, or the whole forward), and wfrun's own regional compile of the
repeated blocks (``--fast``, and ``--compile``'s policy: :func:`compile_pays`), once per
module, on CUDA only."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

import torch

from wfrun.cache_dir import cache_root

log = logging.getLogger(__name__)

#: Modules already compiled: a second sampler (or seed) reuses the compiled blocks.
_COMPILED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def compile_transformer(transformer: Any, device: Any, *, backend: str, fullgraph: bool, mode: str, dynamic: bool | None,
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


#: What compiling the repeated blocks saves per forward, as a share of the eager forward:
#: H200, 14B I2V at 34,320 tokens, bf16 3.52 → 3.04 s (13 %), fp8 weights in fp16 compute
#: 7.26 → 6.04 s a step (17 %) (bench/RESULTS.md, issue 16); the smaller one.
COMPILE_SAVING = 0.13

#: What compiling the blocks costs a process, in seconds, with a cold compile cache: the
#: end-frame job's compiling step took 23.7 s for 7.5 s eager (fp8 weights, fp16 compute,
#: SLG's two graphs); a warm cache costs about 5 s (12.4 s), which this does not count on.
COMPILE_COST_S = 16.0

#: ``wfrun run --compile``: ``auto`` compiles a pass's transformer when :func:`compile_pays`,
#: ``on`` always (on CUDA), ``off`` never (the workflow's own compile nodes still apply).
POLICIES = ("auto", "on", "off")
_POLICY: ContextVar[str] = ContextVar("wfrun_compile_policy", default="auto")


@contextlib.contextmanager
def compile_policy(policy: str) -> Iterator[None]:
    """Within: sampling passes follow ``policy`` (one of :data:`POLICIES`)."""
    if policy not in POLICIES:
        raise ValueError(f"compile policy {policy!r}: use one of {', '.join(POLICIES)}")
    token = _POLICY.set(policy)
    try:
        yield
    finally:
        _POLICY.reset(token)


def current_policy() -> str:
    return _POLICY.get()


def compile_pays(remaining_forwards: int, forward_s: float) -> bool:
    """Whether compiling now saves more over ``remaining_forwards`` forwards of ``forward_s``
    seconds each than it costs. Decided on the measured time of a forward, so the 14B model's
    20-step CFG job compiles (39 x 0.13 x 3.6 s = 18 s saved for 16) and a 4-step CFG-1 job
    of a step-distill LoRA, or a 1.3B model's, does not."""
    return remaining_forwards * COMPILE_SAVING * forward_s > COMPILE_COST_S


def is_compiled(transformer: Any) -> bool:
    return transformer in _COMPILED


def compile_blocks(transformer: Any, device: Any) -> bool:
    """Regional compile of ``transformer``'s repeated blocks (diffusers'
    ``compile_repeated_blocks``: one compiled graph serves every block), once per module;
    False where it cannot (not CUDA, not a diffusers model)."""
    if transformer in _COMPILED:
        return True
    if not str(device).startswith("cuda") or not hasattr(transformer, "compile_repeated_blocks"):
        return False
    use_compile_cache()
    transformer.compile_repeated_blocks(fullgraph=False)
    _COMPILED.add(transformer)
    return True


def prepare_compiler() -> None:
    """Import what ``torch.compile`` needs before it wraps anything (Inductor's ``compile_fx``
    and its lowerings: 1.3-1.5 s of Python holding the GIL on the H200 image). The engine
    calls it on the main thread while a ``--fast`` run's diffusion model is read (I/O on
    other threads), so the model loader's compile wrap no longer runs those imports beside the
    start image's encode, whose kernel launches they slowed (the 4-step A14B job's encode:
    3.3 s beside them, 1.8-2.4 s after; bench/RESULTS.md, session 20)."""
    use_compile_cache()
    import torch._inductor.compile_fx  # noqa: F401

    threading.Thread(target=_hash_compiler_sources, name="wfrun-compiler-keys", daemon=True).start()


def _hash_compiler_sources() -> None:
    """The keys Inductor's caches are looked up by, computed once per process on this thread:
    hashes of Inductor's own sources (``torch_key``) and of Triton's sources and its 0.5 GB
    library (``triton_key``), 0.1 and 0.4 s that the first compiled step spent on them on the
    H200 image (bench/RESULTS.md, session 21). Both are cached by their functions; hashing
    and file reads release the GIL, so this runs beside the main thread's work. Only modules
    already imported are used (an import here could meet the main thread's)."""
    import sys

    for module, name in (("torch._inductor.codecache", "torch_key"),
                         ("torch._inductor.runtime.triton_compat", "triton_key")):
        key = getattr(sys.modules.get(module), name, None)
        if key is None:
            continue
        try:
            key()
        except Exception:  # noqa: BLE001 - the compile computes it again and reports what fails
            log.debug("computing %s ahead failed", name, exc_info=True)


def use_compile_cache() -> Path:
    """Keep compiled kernels between runs: Inductor's and Triton's caches under wfrun's cache
    folder (``$WFRUN_CACHE/compile``, else ``~/.cache/wfrun/compile``) instead of ``/tmp``,
    which many machines empty at boot, so only the first run pays for compiling. Variables
    the user set are left alone."""
    root = cache_root() / "compile"
    # Inductor writes its default (/tmp/torchinductor_<user>) into the variable the first time
    # anything asks for its cache folder, often at import: that value is not the user's choice
    inductor = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if inductor is None or inductor == _inductor_default():
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(root / "inductor")
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))
    keep_reduction_configs()
    return root


#: The variable through which a user sets Inductor's run-time RBLOCK scaling themselves.
SCALE_RBLOCK_ENV = "TORCHINDUCTOR_DYNAMIC_SCALE_RBLOCK"


def keep_reduction_configs() -> None:
    """Turn off Inductor's run-time halving of a reduction kernel's RBLOCK (``dynamic_scale_rblock``),
    unless the user chose it (:data:`SCALE_RBLOCK_ENV`). The halved configs it adds are not
    found in the autotune cache by the next process on torch 2.11, so every run benchmarked
    four kernels of the Wan block again: without it the 4-step A14B job's first step took
    4.75 s instead of 6.0 s and every later step the same 1.94 s (bench/RESULTS.md, session 19)."""
    if SCALE_RBLOCK_ENV in os.environ:
        return
    import torch._inductor.config as inductor_config

    inductor_config.dynamic_scale_rblock = False


def _inductor_default() -> str | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # an older torch: it sets nothing at import there
        return None
    return os.path.abspath(default_cache_dir())
