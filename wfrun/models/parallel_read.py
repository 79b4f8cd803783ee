"""Many checkpoint tensors read at once: file reads on several threads, copies to a GPU through
pinned chunks on side streams, the tensors handed out in the order asked for.

Why: one thread reading tensor after tensor, each copied to the GPU through one staging buffer
before the next read starts, moved about 1.3 GB/s on an H200 host (12 s for the 14B model's
15.5 GiB from the page cache, the largest cost of a job after sampling; the two experts of a
Wan 2.2 job cost that twice). Reads from the page cache and host-to-device copies both
release the GIL, so threads overlap them: each tensor is cut into chunks, every chunk read by
whichever thread is free (into the destination itself on the CPU, into a pinned chunk that is
copied on the thread's own stream for a GPU).

Host memory stays bounded as with one tensor at a time: at most ``lookahead`` bytes of
tensors are read ahead of the one the caller holds, and the pinned chunks are a fixed pool.
A file that ends early is reported with its name (``CheckpointError``), as the one-at-a-time
reader does.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import torch

from wfrun.models.header import CheckpointError, TensorInfo

#: Bytes one thread reads (and copies) at a time: large enough that a read is a few
#: milliseconds, small enough that a 2 GiB embedding spreads over every thread.
CHUNK_BYTES = 32 << 20

#: Bytes of tensors read ahead of the one the caller is using.
LOOKAHEAD_BYTES = 1 << 30

#: The environment variable that sets the number of reading threads (default: the CPU
#: count, at most 8: page-cache reads stop scaling there).
THREADS_ENV = "WFRUN_READ_THREADS"


def read_threads() -> int:
    """Threads to read with: ``$WFRUN_READ_THREADS``, else the CPU count up to 8."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(8, os.cpu_count() or 1))


def read_tensors(path: Path, entries: Iterable[tuple[str, TensorInfo, torch.dtype]], device: torch.device,
                 *, threads: int | None = None, lookahead: int = LOOKAHEAD_BYTES,
                 staged: bool | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` for each ``(name, info, dtype)`` of ``entries``, in order, each on
    ``device`` in its stored dtype. Closing the iterator early waits for the reads in flight.
    ``staged``: through staging chunks copied by torch (default: for a GPU only; tests use it
    on the CPU, where it is the same path but for the streams)."""
    device = torch.device(device)
    reader = _ChunkReader(Path(path), device, threads or read_threads(),
                          device.type == "cuda" if staged is None else staged)
    pending: deque[tuple[str, torch.Tensor, list[Future], torch.dtype, tuple[int, ...]]] = deque()
    ahead = 0
    todo = iter(entries)
    try:
        while True:
            while ahead < lookahead or not pending:
                entry = next(todo, None)
                if entry is None:
                    break
                name, info, dtype = entry
                target, futures = reader.submit(name, info)
                pending.append((name, target, futures, dtype, tuple(info.shape)))
                ahead += target.numel()
            if not pending:
                return
            name, target, futures, dtype, shape = pending.popleft()
            for future in futures:
                future.result()
            ahead -= target.numel()
            yield name, target.view(dtype).reshape(shape)
    finally:
        reader.close()


class _ChunkReader:
    """The threads, their file handles and streams, and the pinned chunks of one read."""

    def __init__(self, path: Path, device: torch.device, threads: int, staged: bool):
        self.path = path
        self.device = device
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wfrun-read")
        self._local = threading.local()
        self._handles: list = []
        self._lock = threading.Lock()
        self._staging: queue.Queue | None = None
        self._cuda = device.type == "cuda"
        if staged:
            self._staging = queue.Queue()
            for _ in range(2 * threads):
                self._staging.put(_staging_chunk(self._cuda))

    def submit(self, name: str, info: TensorInfo) -> tuple[torch.Tensor, list[Future]]:
        nbytes = info.end - info.start
        target = torch.empty(nbytes, dtype=torch.uint8, device=self.device)
        ready = None
        if self._cuda:
            # the block may be one the caller's stream still reads: the copies wait for it
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(self.device))
        # the copies run in the caller's inference mode: a tensor made inside it (a job runs
        # in one) takes no in-place copy from a thread outside it
        inference = torch.is_inference_mode_enabled()
        futures = [self._pool.submit(self._read_chunk, name, target, ready, inference, info.start + offset, offset,
                                     min(CHUNK_BYTES, nbytes - offset))
                   for offset in range(0, nbytes, CHUNK_BYTES)]
        return target, futures

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for handle in self._handles:
            handle.close()
        self._handles.clear()

    def _read_chunk(self, name: str, target: torch.Tensor, ready: "torch.cuda.Event | None", inference: bool,
                    file_offset: int, offset: int, length: int) -> None:
        if self._staging is None:
            self._read_into(name, memoryview(target.numpy())[offset:offset + length], file_offset)
            return
        chunk = self._staging.get()
        try:
            self._read_into(name, memoryview(chunk.numpy())[:length], file_offset)
            if not self._cuda:
                with torch.inference_mode(inference):
                    target[offset:offset + length].copy_(chunk[:length])
                return
            stream = self._stream()
            stream.wait_event(ready)
            with torch.inference_mode(inference), torch.cuda.stream(stream):
                target[offset:offset + length].copy_(chunk[:length], non_blocking=True)
            stream.synchronize()  # the chunk is free again, and the bytes are there
        finally:
            self._staging.put(chunk)

    def _read_into(self, name: str, view: memoryview, file_offset: int) -> None:
        handle = self._handle()
        try:
            handle.seek(file_offset)
            done = 0
            while done < len(view):
                got = handle.readinto(view[done:])
                if not got:
                    raise CheckpointError(f"{self.path}: truncated (tensor {name!r} ends past the end of the file); "
                                          "download it again")
                done += got
        except OSError as err:
            raise CheckpointError(f"{self.path}: cannot be read ({err.strerror})") from None

    def _handle(self):
        handle = getattr(self._local, "handle", None)
        if handle is None:
            try:
                handle = self._local.handle = self.path.open("rb", buffering=0)
            except OSError as err:
                raise CheckpointError(f"{self.path}: cannot be read ({err.strerror})") from None
            with self._lock:
                self._handles.append(handle)
        return handle

    def _stream(self) -> "torch.cuda.Stream":
        stream = getattr(self._local, "stream", None)
        if stream is None:
            stream = self._local.stream = torch.cuda.Stream(device=self.device)
        return stream


def _staging_chunk(pinned: bool) -> torch.Tensor:
    if not pinned:
        return torch.empty(CHUNK_BYTES, dtype=torch.uint8)
    try:
        return torch.empty(CHUNK_BYTES, dtype=torch.uint8, pin_memory=True)
    except RuntimeError:  # no pinned memory to be had: a plain chunk still works, more slowly
        return torch.empty(CHUNK_BYTES, dtype=torch.uint8)
