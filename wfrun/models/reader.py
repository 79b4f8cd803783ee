"""Reading checkpoint tensors one at a time, straight to where they will live.

Why not ``safetensors.safe_open``: it memory-maps the whole file, and every page it touches
stays mapped (and counted in the process's resident memory) until the file is closed, so
loading a 14 GB checkpoint shows a 14 GB peak. Reading each tensor with plain file reads
into one buffer keeps host memory at one tensor at a time, and a file that ends early is
reported with its name instead of a bus error. The header is validated first
(``header.read_checkpoint_header``), so every read below is in bounds.

Pickle-based files (``.ckpt``, ``.pt``, ``.pth``, ``.bin``, or a pickle renamed to
``.safetensors``: the content decides) can run code when unpickled; they are refused unless
the user opts in, and even then only ``torch.load(weights_only=True)`` touches them. The
opt-in is ``allow_pickle=True`` for one call, or, for the loaders that node executors call
without that argument, the user's choice for the whole run: ``wfrun run --allow-pickle``
(:func:`pickle_files_allowed` around the run) or ``WFRUN_ALLOW_PICKLE=1``. A context
variable carries it so that no executor has to pass it along.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

import torch

from wfrun.models.header import CheckpointError, CheckpointHeader, TensorInfo, read_checkpoint_header, sniff

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
#: The pickle suffixes the few pickle-reading loaders accept without the run's opt-in (read
#: with ``torch.load(weights_only=True)``): ``.pth``, and ``.pkl`` for Practical-RIFE's
#: ``flownet.pkl`` (ComfyUI-VFI), a plain tensor dict saved by ``torch.save``.
PTH_SUFFIXES = (".pth", ".pkl")

#: The environment variable that opts a whole session into reading pickle files.
ALLOW_PICKLE_ENV = "WFRUN_ALLOW_PICKLE"
_ALLOW_PICKLE: ContextVar[bool] = ContextVar("wfrun_allow_pickle", default=False)


def pickle_allowed() -> bool:
    """Whether the user opted into pickle files for this run (or session)."""
    flag = os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower()
    return _ALLOW_PICKLE.get() or flag in ("1", "true", "yes", "on")


@contextmanager
def pickle_files_allowed(allow: bool = True) -> Iterator[None]:
    """Within this block, ``open_checkpoint`` calls that do not say otherwise follow ``allow``."""
    token = _ALLOW_PICKLE.set(bool(allow))
    try:
        yield
    finally:
        _ALLOW_PICKLE.reset(token)

#: safetensors dtype names → torch dtypes (and back, for files read through torch.load).
TORCH_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "F8_E8M0": torch.float8_e8m0fnu,  # MXFP8's power-of-two block scales (``models.comfy_quant``)
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}


class PickleRefused(CheckpointError):
    """A pickle file the user has not opted into reading."""


class CheckpointReader:
    """Tensor names, dtypes and shapes of one checkpoint, and reads of single tensors."""

    def __init__(self, header: CheckpointHeader):
        self.path = header.path
        self.tensors: dict[str, TensorInfo] = header.tensors
        self.metadata: dict[str, str] = header.metadata
        self._handle = None
        self._staging: torch.Tensor | None = None

    def __enter__(self) -> "CheckpointReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._staging = None

    def read(self, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
        """One tensor, on ``device``, in its stored dtype."""
        info = self.tensors[name]
        dtype = TORCH_DTYPES.get(info.dtype)
        if dtype is None:
            raise CheckpointError(f"{self.path}: tensor {name!r} has dtype {info.dtype}, which wfrun cannot read")
        nbytes = info.end - info.start
        device = torch.device(device)
        pinned = device.type == "cuda"
        buffer = self._buffer(nbytes, pinned) if pinned else torch.empty(nbytes, dtype=torch.uint8)
        if nbytes:
            self._read_into(info.start, buffer, name)
        tensor = buffer.view(dtype).reshape(info.shape)
        if pinned:
            return tensor.to(device, copy=True)
        return tensor if device.type == "cpu" else tensor.to(device)

    def read_span(self, start: int, end: int) -> torch.Tensor:
        """Bytes ``start:end`` of the file (absolute offsets, as :class:`TensorInfo` gives them)
        in one read: many small tensors lying side by side come in one system call instead of
        one each (``models.lora_read``)."""
        if not 0 <= start <= end <= max((info.end for info in self.tensors.values()), default=0):
            raise CheckpointError(f"{self.path}: bytes {start}-{end} are outside its tensors")
        buffer = torch.empty(end - start, dtype=torch.uint8)
        if end > start:
            self._read_into(start, buffer, f"bytes {start}-{end}")
        return buffer

    def iter_tensors(self, names=None, device="cpu") -> Iterator[tuple[str, torch.Tensor]]:
        """``(name, tensor)`` of ``names`` (default: all), in order, read on several threads
        ahead of the caller (``parallel_read``): a whole model loads several times faster than
        with :meth:`read` one tensor at a time."""
        from wfrun.models.parallel_read import read_tensors

        entries = []
        for name in names if names is not None else self.tensors:
            info = self.tensors[name]
            dtype = TORCH_DTYPES.get(info.dtype)
            if dtype is None:
                raise CheckpointError(f"{self.path}: tensor {name!r} has dtype {info.dtype}, which wfrun cannot read")
            entries.append((name, info, dtype))
        yield from read_tensors(self.path, entries, torch.device(device))

    def read_one_by_one(self, names=None, device="cpu") -> Iterator[tuple[str, torch.Tensor]]:
        """``(name, tensor)`` through :meth:`read`, one after the other: for readers whose
        tensors are not plain byte ranges of the file."""
        for name in names if names is not None else self.tensors:
            yield name, self.read(name, device)

    def _buffer(self, nbytes: int, pinned: bool) -> torch.Tensor:
        """A reusable (pinned, where possible) staging buffer for copies to a GPU."""
        if self._staging is None or self._staging.numel() < nbytes:
            try:
                self._staging = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned)
            except RuntimeError:
                self._staging = torch.empty(nbytes, dtype=torch.uint8)
        return self._staging[:nbytes]

    def _read_into(self, offset: int, buffer: torch.Tensor, name: str) -> None:
        try:
            if self._handle is None:
                self._handle = self.path.open("rb", buffering=0)
            self._handle.seek(offset)
            view = memoryview(buffer.numpy()).cast("B")
            done = 0
            while done < len(view):
                got = self._handle.readinto(view[done:])
                if not got:
                    raise CheckpointError(
                        f"{self.path}: truncated (tensor {name!r} ends past the end of the file); "
                        "download it again")
                done += got
        except OSError as err:
            raise CheckpointError(f"{self.path}: cannot be read ({err.strerror})") from None


class PickleReader(CheckpointReader):
    """A ``.ckpt``/``.pt`` file the user opted into, loaded with ``weights_only=True``."""

    def __init__(self, path: Path):
        try:
            # zip files (torch.save's format since 1.6) are memory-mapped; older pickles cannot be
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=sniff(path) == "zip")
        except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
            raise CheckpointError(
                f"{path}: cannot be read as a weights-only torch file ({type(err).__name__}): it holds more than "
                "tensors, or is damaged; use the .safetensors version of this model") from None
        if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
            data = data["state_dict"]
        elif isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), dict):
            data = next(iter(data.values()))  # one wrapping key, as ComfyUI unwraps (Real-ESRGAN's params_ema)
        if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
            raise CheckpointError(f"{path}: holds no plain tensor state dict")
        self._data = data
        tensors = {k: TensorInfo(DTYPE_NAMES.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in data.items()}
        super().__init__(CheckpointHeader(path, tensors, {}, 0))

    def read(self, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
        return self._data[name].to(device)

    iter_tensors = CheckpointReader.read_one_by_one

    def close(self) -> None:
        self._data = {}


def open_checkpoint(path: str | Path, *, allow_pickle: bool | None = None) -> CheckpointReader:
    """A reader for ``path``: a checked safetensors header, or, only if the user opted in
    (``allow_pickle``, else :func:`pickle_allowed`), a weights-only pickle; GGUF is refused
    (``gguf_reader`` reads GGUF files, for the loaders that take them).

    The content decides the format, not the name: a pickle renamed ``.safetensors`` is
    still refused, and a ``.bin`` that is really a safetensors file is read safely."""
    path = Path(path)
    suffix = path.suffix.lower()
    if allow_pickle is None:
        allow_pickle = pickle_allowed()
    content = sniff(path)
    if suffix == ".gguf" or content == "gguf":
        raise CheckpointError(f"{path}: a GGUF file, which this loader does not read (ComfyUI-GGUF's UnetLoaderGGUF "
                              "and CLIPLoaderGGUF do); use the .safetensors release of this model here")
    pickled = content in ("zip", "pickle") or (suffix in PICKLE_SUFFIXES and content != "safetensors")
    if not pickled:
        return CheckpointReader(read_checkpoint_header(path))
    if not allow_pickle:
        what = (f"{suffix} files are Python pickles and" if suffix in PICKLE_SUFFIXES else
                f"this is a Python pickle ({'a PyTorch zip archive' if content == 'zip' else 'pickle data'}) "
                f"under a {suffix or 'bare'} name; pickles")
        raise PickleRefused(
            f"{path}: {what} can run code when loaded; use the .safetensors version of this model, or, if "
            f"you trust this file, opt in with `wfrun run --allow-pickle`, {ALLOW_PICKLE_ENV}=1 or "
            "allow_pickle=True (it is then read with torch.load(weights_only=True))")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    return PickleReader(path)


def read_checked_state(reader: CheckpointReader, path: Path, wanted: dict, what: str,
                       cast: Any, stored: dict[str, str] | None = None) -> dict:
    """Every tensor a module built on the meta device wants (``wanted``: its state dict),
    read from ``reader`` under its stored name (``stored[key]``, else the key), each checked
    for presence, shape and a floating-point dtype before it is read, and passed through
    ``cast(key, tensor)``; a CheckpointError names the file, ``what`` it should hold and the
    tensor. The common core of the small model-part loaders (FantasyTalking, Uni3C)."""
    shapes = {k: tuple(v.shape) for k, v in reader.tensors.items()}
    state = {}
    for key, like in wanted.items():
        name = stored[key] if stored is not None else key
        if name not in shapes:
            raise CheckpointError(f"{path.name}: the {what} is missing {name}")
        if shapes[name] != tuple(like.shape):
            raise CheckpointError(f"{path.name}: {name} has shape {shapes[name]}, expected {tuple(like.shape)}")
        tensor = reader.read(name, "cpu")
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path.name}: {name} is stored as {tensor.dtype}, not as floating point")
        state[key] = cast(key, tensor)
    return state


def checked_float32_state(state: dict, wanted: dict, source: str, what: str) -> dict:
    """``state`` (tensors already read) checked against the state dict a module built on the
    meta device wants: every tensor present (the first few missing named), each of its shape
    and floating point, up-cast to float32; a CheckpointError names ``source``, ``what`` it
    should hold and the tensor. The audio encoders' loaders (wav2vec 2.0, Whisper) share it."""
    missing = [k for k in wanted if k not in state]
    if missing:
        raise CheckpointError(f"{source}: {what} is missing {len(missing)} tensors ({', '.join(missing[:3])}"
                              f"{', …' if len(missing) > 3 else ''})")
    loaded = {}
    for key, like in wanted.items():
        value = state[key]
        if tuple(value.shape) != tuple(like.shape):
            raise CheckpointError(f"{source}: {key} has shape {tuple(value.shape)}, {what} needs {tuple(like.shape)}")
        if not value.is_floating_point():
            raise CheckpointError(f"{source}: {key} is stored as {value.dtype}, not as floating point")
        loaded[key] = value.to(torch.float32)
    return loaded
