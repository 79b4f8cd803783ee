"""A LoRA file's tensors read in one piece, and read ahead of the pass that merges them.

A sampler merges its LoRAs when its pass begins, so their reading is on the job's critical
path: read tensor by tensor (about 1,600 small tensors in a 14B step-distill LoRA), the
file took 0.7 s of the high-noise expert's 1.1 s merge on the H200 (bench/RESULTS.md,
session 18). Here the file's tensors come in one read into one buffer (the tensors are
views of it), and the LoRA nodes ask for their files when the run starts (:func:`prefetch`,
the executors' ``prefetch`` hook): a worker thread reads them while the text and image
encoders work, and the pass finds them in memory (:func:`take`).

What is read ahead is held until the pass takes it or the run ends (the engine calls the
release :func:`prefetch` returns), at most :data:`MAX_FILE_BYTES` a file and
:data:`MAX_HELD_BYTES` in all; anything else is read at its turn, as before.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import torch

from wfrun.models.reader import TORCH_DTYPES, CheckpointError, CheckpointReader, open_checkpoint

#: The largest file read ahead, and the most held at once (host memory).
MAX_FILE_BYTES = 4 << 30
MAX_HELD_BYTES = 6 << 30

_LOCK = threading.Lock()
#: file key → (its size, the read in progress or done)
_HELD: dict[tuple, tuple[int, Future]] = {}
_POOL: ThreadPoolExecutor | None = None


def file_key(path: str | Path) -> tuple | None:
    """The file as it is now (resolved path, size, modification time): a file replaced on
    disk after it was read ahead is read again. None when it cannot be looked at."""
    try:
        path = Path(path).resolve()
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


def read_all(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, on the CPU, from one read of the bytes they span
    (a pickle the user opted into is read as ``open_checkpoint`` reads it)."""
    with open_checkpoint(path) as reader:
        if type(reader) is not CheckpointReader:
            return {name: reader.read(name, "cpu") for name in reader.tensors}
        infos = reader.tensors
        for name, info in infos.items():
            if info.dtype not in TORCH_DTYPES:
                raise CheckpointError(f"{reader.path}: tensor {name!r} has dtype {info.dtype}, which wfrun cannot read")
        if not infos:
            return {}
        start = min(info.start for info in infos.values())
        buffer = reader.read_span(start, max(info.end for info in infos.values()))
        tensors = {}
        for name, info in infos.items():
            piece = buffer[info.start - start:info.end - start]
            dtype = TORCH_DTYPES[info.dtype]
            if (info.start - start) % dtype.itemsize:
                piece = piece.clone()  # not aligned for its dtype inside the shared buffer
            tensors[name] = piece.view(dtype).reshape(info.shape)
        return tensors


def prefetch(path: str | Path) -> Callable[[], None]:
    """Start reading ``path`` on a worker thread, unless it is being read already, is too
    large, or would hold too much; returns what drops the read if nobody took it."""
    key = file_key(path)
    if key is None or key[1] > MAX_FILE_BYTES:
        return no_release
    global _POOL
    with _LOCK:
        if key in _HELD or sum(size for size, _ in _HELD.values()) + key[1] > MAX_HELD_BYTES:
            return no_release
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfrun-lora-read")
        # the caller's context goes along (the run's pickle opt-in)
        future = _POOL.submit(contextvars.copy_context().run, read_all, Path(key[0]))
        _HELD[key] = (key[1], future)

    def release() -> None:
        with _LOCK:
            if _HELD.get(key, (0, None))[1] is future:
                del _HELD[key]

    return release


def take(path: str | Path) -> dict[str, torch.Tensor] | None:
    """The tensors of ``path`` read ahead (waiting for a read still going on), now handed
    over and no longer held; None when it was not read ahead, was changed on disk since, or
    its read failed (the caller reads it again and reports what is wrong)."""
    key = file_key(path)
    with _LOCK:
        held = _HELD.pop(key, None) if key is not None else None
    if held is None:
        return None
    try:
        return held[1].result()
    except Exception:  # noqa: BLE001 - read again at the caller's turn, where the error is named
        return None


def moved(tensors: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """``tensors`` on ``device``, with one copy for the tensors that share a storage (a file
    read in one piece by :func:`read_all`): a 14B LoRA's ~1,600 small host-to-GPU copies each
    wait for the work already queued on the GPU (0.4 s of a merge at a pass's start, far more
    beside another node's kernels), its one buffer's copy waits once. A tensor with a storage
    of its own, or in a buffer that would take more than a quarter of the free GPU memory, is
    left where it is, for the caller to copy when it needs it (one layer at a time)."""
    device = torch.device(device)
    if device.type == "cpu":
        return dict(tensors)
    shared: dict[int, list[str]] = {}
    for name, tensor in tensors.items():
        shared.setdefault(tensor.untyped_storage().data_ptr(), []).append(name)
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
    out: dict[str, torch.Tensor] = {}
    for names in shared.values():
        storage = tensors[names[0]].untyped_storage()
        if len(names) == 1 or storage.nbytes() * 4 > free:
            out.update((name, tensors[name]) for name in names)
            continue
        out.update(_one_copy({name: tensors[name] for name in names}, device))
    return out


def _one_copy(tensors: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Tensors that are views of one storage, copied to ``device`` as that storage's bytes in
    one piece and viewed there as they were (dtype, offset, shape and strides)."""
    storage = next(iter(tensors.values())).untyped_storage()
    raw = torch.empty(0, dtype=torch.uint8).set_(storage, 0, (storage.nbytes(),)).to(device, copy=True)
    return {name: torch.empty(0, dtype=t.dtype, device=device).set_(raw.untyped_storage(), t.storage_offset(),
                                                                      t.size(), t.stride())
            for name, t in tensors.items()}


def held_files() -> list[str]:
    """The files read ahead and not yet taken (for tests and reports)."""
    with _LOCK:
        return [key[0] for key in _HELD]


def no_release() -> None:
    """The release of a read that was not started (nothing to drop)."""
