"""Reading checkpoint tensors one at a time, straight to where they will live.

Why not ``safetensors.safe_open``: it memory-maps the whole file, and every page it touches
stays mapped (and counted in the process's resident memory) until the file is closed, so
loading a 14 GB checkpoint shows a 14 GB peak. Reading each tensor with plain file reads
into one buffer keeps host memory at one tensor at a time, and a file that ends early is
reported with its name instead of a bus error. The header is validated first
(``header.read_checkpoint_header``), so every read below is in bounds.

Pickle-based files (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) can run code when unpickled; they
are refused unless the caller opts in with ``allow_pickle=True``, and even then only
``torch.load(weights_only=True)`` touches them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from wfrun.models.header import CheckpointError, CheckpointHeader, TensorInfo, read_checkpoint_header

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")

#: safetensors dtype names → torch dtypes (and back, for files read through torch.load).
TORCH_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}


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

    def iter_tensors(self, names=None, device="cpu") -> Iterator[tuple[str, torch.Tensor]]:
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
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
            raise CheckpointError(f"{path}: cannot be read as a weights-only torch file ({type(err).__name__})") from None
        if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
            data = data["state_dict"]
        if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
            raise CheckpointError(f"{path}: holds no plain tensor state dict")
        self._data = data
        tensors = {k: TensorInfo(DTYPE_NAMES.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in data.items()}
        super().__init__(CheckpointHeader(path, tensors, {}, 0))

    def read(self, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
        return self._data[name].to(device)

    def close(self) -> None:
        self._data = {}


def open_checkpoint(path: str | Path, *, allow_pickle: bool = False) -> CheckpointReader:
    """A reader for ``path``; refuses pickle files without opt-in, and GGUF."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise CheckpointError(
                f"{path}: {suffix} files are Python pickles and can run code when loaded; "
                "use the .safetensors version of this model, or opt in with allow_pickle=True "
                "(then it is read with torch.load(weights_only=True))")
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file")
        return PickleReader(path)
    if suffix == ".gguf":
        raise CheckpointError(f"{path}: GGUF checkpoints are not supported; use a .safetensors version")
    return CheckpointReader(read_checkpoint_header(path))
