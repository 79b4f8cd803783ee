"""Reading and checking a safetensors header without loading any tensor.

Lets us tell what a checkpoint is (and whether it is a checkpoint at all) from its key
names and shapes in milliseconds, even for a 30 GB file. Model files come from the
internet like workflows do, so :func:`read_checkpoint_header` checks the header as strictly
as the ``safetensors`` library itself (which ComfyUI loads with), before any weight is
read: the length prefix, the JSON, every entry's dtype, shape and byte range, and that the
tensors tile the data section exactly — no tensor past the end of the file (a download
that stopped half way), no two tensors sharing bytes, no bytes that belong to none. The
dry run and every loader go through this one function, so ``wfrun run --dry-run`` refuses
exactly the files a run would.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The safetensors format's own cap on the header length (``MAX_HEADER_SIZE``); a length
#: above it is not a real header, and parsing it would cost gigabytes.
MAX_HEADER_BYTES = 100_000_000

#: Bits per element of every dtype name the safetensors format defines.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}

#: Bytes per element of the dtype names wfrun can read into torch tensors.
DTYPE_SIZES: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

_DAMAGED = "the file is damaged: download it again"


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


def sniff(path: str | Path) -> str:
    """What a model file holds, from its first bytes: ``safetensors``, ``zip`` (a PyTorch
    ``torch.save`` file), ``pickle`` (an older one, or a plain pickle), ``gguf``, ``lfs`` (a
    Git LFS pointer), ``html`` (an error page saved by a failed download), or ``unknown``.

    Content decides, not the name: a renamed pickle is still a pickle."""
    try:
        with Path(path).open("rb") as handle:
            start = handle.read(64)
    except OSError:
        return "unknown"  # the reader names the file and the reason
    text = start.lstrip().lower()
    # first: a length prefix can begin with any bytes (0x80 0x02 is a length of 640 + ...)
    if len(start) > 8 and start[8:].lstrip()[:1] == b"{":
        return "safetensors"
    if start.startswith(b"PK\x03\x04"):
        return "zip"
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if start.startswith(b"GGUF"):
        return "gguf"
    if text.startswith(b"version https://git-lfs"):
        return "lfs"
    if text.startswith((b"<!doctype", b"<html", b"<?xml")):
        return "html"
    return "unknown"


_WHAT_IT_IS = {
    "lfs": "it is a Git LFS pointer, not the model: fetch the real file with git lfs pull or download it again",
    "html": "it is a web page, not the model: the download failed; download it again",
    "zip": "it is a zip archive, e.g. a PyTorch .pt file renamed; use a real .safetensors file",
    "pickle": "it is a Python pickle, e.g. a .ckpt file renamed; use a real .safetensors file",
    "gguf": "it is a GGUF file, which only ComfyUI-GGUF's loaders read; use a .safetensors file here",
}


def _read_raw(path: Path) -> tuple[dict[str, Any], int, int]:
    """The header JSON object, the offset where tensor data starts, and the file size."""
    try:
        with path.open("rb") as handle:
            file_size = path.stat().st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(
                    f"{path}: too short to be a safetensors file ({file_size} bytes); download it again")
            (size,) = struct.unpack("<Q", prefix)
            what = _WHAT_IT_IS.get(sniff(path))
            if what:
                raise CheckpointError(f"{path}: not a safetensors file ({what})")
            if size > MAX_HEADER_BYTES:
                raise CheckpointError(
                    f"{path}: not a safetensors file (its header length, {size:,} bytes, is over the format's "
                    f"limit of {MAX_HEADER_BYTES:,}); {_DAMAGED}")
            if size > file_size - 8:
                raise CheckpointError(
                    f"{path}: not a safetensors file, or truncated (its header length, {size:,} bytes, is "
                    f"larger than the {file_size - 8:,} bytes that follow it); {_DAMAGED}")
            raw = handle.read(size)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror})") from None
    if len(raw) < size:
        raise CheckpointError(f"{path}: truncated while being read (the header is cut short); {_DAMAGED}")
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(
            f"{path}: corrupt safetensors header (not JSON), not even UTF-8 text; {_DAMAGED}") from None
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: corrupt safetensors header (not JSON); {_DAMAGED}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not an object); {_DAMAGED}")
    return header, 8 + size, file_size


def read_header(path: str | Path) -> dict[str, Any]:
    """Tensor name → ``{"dtype", "shape", "data_offsets"}`` (``__metadata__`` removed), as
    stored and unchecked: for quick looks at key names. Loaders use :func:`read_checkpoint_header`."""
    header, _, _ = _read_raw(Path(path))
    header.pop("__metadata__", None)
    return header


def read_checkpoint_header(path: str | Path) -> CheckpointHeader:
    """The checked header: every entry well formed, and the tensors tiling the data section
    exactly, as the safetensors library requires. Raises :class:`CheckpointError` naming the
    file, the tensor and what is wrong."""
    path = Path(path)
    header, data_start, file_size = _read_raw(path)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(
            f"{path}: corrupt safetensors header (__metadata__ is not an object of text values); {_DAMAGED}")
    entries = [(name, _entry(path, name, value)) for name, value in header.items()]
    entries.sort(key=lambda item: (item[1][2], item[1][3]))
    data_size = file_size - data_start
    last_end = max((end for _, (_, _, _, end) in entries), default=0)
    if last_end > data_size:
        raise CheckpointError(
            f"{path}: truncated (its header describes {data_start + last_end:,} bytes, the file has "
            f"{file_size:,}); download it again")
    tensors: dict[str, TensorInfo] = {}
    position, previous = 0, None
    for name, (dtype, shape, begin, end) in entries:
        if begin < position:
            raise CheckpointError(
                f"{path}: corrupt safetensors header (tensor {name!r} at bytes {begin:,}..{end:,} overlaps "
                f"tensor {previous!r}, which ends at {position:,}); {_DAMAGED}")
        if begin > position:
            raise CheckpointError(
                f"{path}: corrupt safetensors header (bytes {position:,}..{begin:,} of the data, before tensor "
                f"{name!r}, belong to no tensor); {_DAMAGED}")
        tensors[name] = TensorInfo(dtype, shape, data_start + begin, data_start + end)
        position, previous = end, name
    if position != data_size:
        raise CheckpointError(
            f"{path}: corrupt safetensors file ({data_size - position:,} bytes after its last tensor belong to "
            f"no tensor); {_DAMAGED}")
    return CheckpointHeader(path, tensors, dict(metadata), file_size)


def _entry(path: Path, name: str, entry: Any) -> tuple[str, tuple[int, ...], int, int]:
    """One tensor's ``(dtype, shape, begin, end)``, each checked on its own."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: corrupt safetensors header (tensor {name!r} {why}); {_DAMAGED}")

    def whole(n: Any) -> bool:
        return isinstance(n, int) and not isinstance(n, bool) and n >= 0

    if not isinstance(entry, dict):
        raise bad("is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise bad("has no dtype")
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        raise bad(f"has the unknown dtype {dtype[:40]!r}; safetensors defines {', '.join(DTYPE_BITS)}")
    if not isinstance(shape, list) or not all(whole(n) for n in shape):
        raise bad("has no valid shape")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(whole(n) for n in offsets):
        raise bad("has no valid data_offsets")
    begin, end = offsets
    if begin > end:
        raise bad(f"has no valid data_offsets (it ends at byte {end:,}, before it starts at {begin:,})")
    numel = math.prod(shape)
    if numel * bits % 8:
        raise bad(f"of shape {shape} in {dtype} does not fill whole bytes")
    if end - begin != numel * bits // 8:
        raise bad(f"holds {end - begin:,} bytes, not the {numel * bits // 8:,} its {dtype} shape {shape} needs")
    return dtype, tuple(shape), begin, end
