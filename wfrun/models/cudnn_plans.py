"""cuDNN execution plans kept on disk between runs, so a process does not build them again.

Why: cuDNN's fp8 attention (``models/fp8_attention``) is a runtime-fused engine: the first
call for a shape compiles its kernel in the process (NVRTC) and picks a plan, several
seconds of a job's first step, every run. cuDNN can serialize a built plan, compiled kernel
included, and load it back in a fraction of that; the compile cache does the same for
Inductor's kernels (``models/compile.use_compile_cache``), and these plans sit beside it.

A plan is only valid for the cuDNN build, frontend, GPU model and graph it was made for,
so the file name is a hash of all of them (:func:`plan_key`): a new cuDNN or another GPU
finds no file and builds afresh. A file that cannot be read back (cut short, from a build
the key did not tell apart) is rebuilt and replaced; files are written atomically, so a
crash never leaves half a plan under a real name. The files are cuDNN's own binary format,
read by cuDNN, never unpickled.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from wfrun.atomic import write_bytes
from wfrun.cache_dir import cache_root

log = logging.getLogger(__name__)

#: The most bytes wfrun reads back as one plan (a serialized SDPA plan is tens of KiB; a
#: bigger file is not one wfrun wrote).
MAX_PLAN_BYTES = 64 * 2**20


def plan_folder() -> Path:
    """``$WFRUN_CACHE/compile/cudnn``, else ``~/.cache/wfrun/compile/cudnn``."""
    return cache_root() / "compile" / "cudnn"


def plan_key(*parts: object) -> str:
    """A file name for the plan described by ``parts`` (versions, device, graph, shapes)."""
    text = "\x1f".join(repr(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32] + ".plan"


def load_plan(key: str) -> bytes | None:
    """The serialized plan stored under ``key``; None when there is none (or it is not one)."""
    path = plan_folder() / key
    try:
        if path.stat().st_size > MAX_PLAN_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def store_plan(key: str, data: bytes) -> None:
    """Keep a serialized plan for later runs; a cache that cannot be written only costs time."""
    try:
        folder = plan_folder()
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes(folder / key, data, replace=True)
    except OSError as err:
        log.info("cuDNN plan not kept for later runs (%s)", err)


def forget_plan(key: str) -> None:
    """Remove a stored plan that cuDNN could not load back."""
    try:
        (plan_folder() / key).unlink()
    except OSError:
        pass
