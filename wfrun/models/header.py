"""Reading a safetensors header without loading any tensor.

Lets us tell what a checkpoint is (and whether it is a checkpoint at all) from its key
names and shapes in milliseconds, even for a 30 GB file. ``read_checkpoint_header`` also
checks that every tensor's bytes lie inside the file, so a download that stopped half way
is reported as truncated before any weight is read, not as a shape error deep in a load.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: A header larger than this is not a real safetensors file (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024

#: Bytes per element of the safetensors dtype names wfrun understands.
DTYPE_SIZES: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}


class CheckpointError(ValueError):
    """A file that is not a readable safetensors checkpoint; the message names the file."""


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in the file, and what it is."""

    dtype: str
    shape: tuple[int, ...]
    start: int = 0  # absolute byte offset in the file
    end: int = 0

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class CheckpointHeader:
    """The parsed header of one safetensors file: tensors in file order, and metadata."""

    path: Path
    tensors: dict[str, TensorInfo] = field(hash=False)
    metadata: dict[str, str] = field(hash=False)
    file_size: int = 0


def _read_raw(path: Path) -> tuple[dict[str, Any], int, int]:
    """The header JSON object, the offset where tensor data starts, and the file size."""
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: too short to be a safetensors file")
            (size,) = struct.unpack("<Q", prefix)
            file_size = path.stat().st_size
            if size > MAX_HEADER_BYTES or size > file_size - 8:
                raise CheckpointError(f"{path}: not a safetensors file ({_what_it_is(prefix + handle.read(56))})")
            raw = handle.read(size)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not an object)")
    return header, 8 + size, file_size


def _what_it_is(start: bytes) -> str:
    """A guess at what a file that is no safetensors file is, from its first bytes."""
    text = start.lstrip().lower()
    if text.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the model: fetch the real file with git lfs pull or download it again"
    if text.startswith((b"<!doctype", b"<html", b"<?xml")):
        return "it is a web page, not the model: the download failed; download it again"
    if start.startswith(b"PK\x03\x04"):
        return "it is a zip archive, e.g. a PyTorch .pt file renamed; use a real .safetensors file"
    if start.startswith(b"\x80"):
        return "it is a Python pickle, e.g. a .ckpt file renamed; use a real .safetensors file"
    if start.startswith(b"GGUF"):
        return "it is a GGUF file; wfrun reads .safetensors files only"
    return "its header length is impossible"


def read_header(path: str | Path) -> dict[str, Any]:
    """Tensor name → ``{"dtype", "shape", "data_offsets"}`` (``__metadata__`` removed)."""
    header, _, _ = _read_raw(Path(path))
    header.pop("__metadata__", None)
    return header


def read_checkpoint_header(path: str | Path) -> CheckpointHeader:
    """The validated header: every entry well formed and every tensor inside the file."""
    path = Path(path)
    header, data_start, file_size = _read_raw(path)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (__metadata__ is not an object)")
    tensors: dict[str, TensorInfo] = {}
    data_end = 0
    for name, entry in header.items():
        tensors[name] = info = _tensor_info(path, name, entry, data_start)
        data_end = max(data_end, info.end)
    if data_end > file_size:
        raise CheckpointError(
            f"{path}: truncated (its header describes {data_end:,} bytes, the file has "
            f"{file_size:,}); download it again")
    ordered = dict(sorted(tensors.items(), key=lambda item: item[1].start))
    return CheckpointHeader(path, ordered, {str(k): str(v) for k, v in metadata.items()}, file_size)


def _tensor_info(path: Path, name: str, entry: Any, data_start: int) -> TensorInfo:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: corrupt safetensors header (tensor {name!r} {why})")

    if not isinstance(entry, dict):
        raise bad("is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise bad("has no dtype")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise bad("has no valid shape")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(n, int) and n >= 0 for n in offsets) or offsets[0] > offsets[1]):
        raise bad("has no valid data_offsets")
    size = DTYPE_SIZES.get(dtype)
    if size is not None and offsets[1] - offsets[0] != math.prod(shape) * size:
        raise bad(f"holds {offsets[1] - offsets[0]} bytes, not the {math.prod(shape) * size} "
                  f"its {dtype} shape {shape} needs")
    return TensorInfo(dtype, tuple(shape), data_start + offsets[0], data_start + offsets[1])
