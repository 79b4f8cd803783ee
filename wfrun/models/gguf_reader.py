"""Reading GGUF files (ComfyUI-GGUF's and llama.cpp's model format) safely, one tensor at a time.

A GGUF file is a header — magic ``GGUF``, version, tensor and key/value counts, the
key/value metadata (``general.architecture``, ComfyUI-GGUF's ``comfy.gguf.orig_shape.<name>``,
tokenizer tables), then one info record per tensor (name, dimensions innermost first, GGML
type, offset) — and an aligned data section. Quantized tensors (``Q8_0``, ``Q4_K``, …) are
rows of fixed-size blocks; ``F32``/``F16``/``BF16`` ones are plain arrays.

The format's constants (magic, versions, value types, GGML types and their block sizes)
come from the ``gguf`` package (llama.cpp's own Python library). Its ``GGUFReader`` is not
used to open files: it trusts every count in the header, so a 100-byte file declaring an
array of 2**40 items makes it loop and allocate until memory runs out (measured: 13 s and a
``MemoryError`` under a 2 GB limit, gguf 0.19.0), and it memory-maps the whole file, which
keeps every page read resident (see ``reader.py``). Model files come from the internet like
workflows do, so :func:`read_gguf_header` walks the header itself, checking as it goes: each
count and length against the bytes left in the file (and against caps well above any real
file), every key and tensor name UTF-8 and unique, every tensor of a GGML type wfrun can
dequantize, its rows whole blocks, its bytes inside the file, aligned and overlapping no
other tensor. Only then are tensors read, with plain file reads into one buffer each
(``CheckpointReader``), so ``wfrun run --dry-run`` and the loaders refuse the same files.

The result has the same shape as a safetensors header: ``TensorInfo`` entries named as in
the file, with the *logical* shape in PyTorch order (GGUF stores dimensions innermost
first; ComfyUI-GGUF records the real shape of reshaped tensors in
``comfy.gguf.orig_shape.<name>``), so ``detect.identify`` and the key maps work unchanged.
The dtype is the GGML type's name: ``F32``, ``F16`` and ``BF16`` are also safetensors' names.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch

from wfrun.models.header import CheckpointError, CheckpointHeader, TensorInfo
from wfrun.models.reader import CheckpointReader

#: GGUF versions with 64-bit counts (version 1 used 32-bit ones and is long gone).
VERSIONS = (2, 3)
#: Caps far above any real model file (a Wan 14B GGUF has ~1,100 tensors and ~10 keys; a
#: UMT5-XXL one a 256,384-entry tokenizer table), so a hostile header cannot make the walk
#: itself slow or large: each is also bounded by the bytes left in the file.
MAX_TENSORS = 65_536
MAX_KEYS = 65_536
MAX_ARRAY_ITEMS = 1 << 21
MAX_ARRAY_DEPTH = 3
MAX_KEY_BYTES = 65_535          # the GGUF specification's limit
MAX_NAME_BYTES = 1_024          # llama.cpp allows 64, ComfyUI-GGUF writes up to 127
MAX_STRING_BYTES = 64 << 20     # a whole tokenizer.json stored as one string is a few MB
MAX_DIMS = 5                    # GGML's 4, and ComfyUI-GGUF's 5D Wan/HunyuanVideo patch embeddings
MAX_ALIGNMENT = 1 << 16

_DAMAGED = "the file is damaged or not a GGUF model: download it again"
_PLAIN = ("F32", "F16", "BF16")  # stored as plain arrays; the same names as safetensors'


def _gguf():
    import gguf

    return gguf


#: The quantized GGML types diffusers' GGUF layers dequantize (``diffusers.quantizers.gguf.utils``'s
#: ``SUPPORTED_GGUF_QUANT_TYPES``, less BF16, which wfrun reads as a plain dtype). Written out
#: so that checking a header does not import diffusers (2 s); a test holds it to diffusers' list.
DEQUANTIZED = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS")


def supported_types() -> dict[int, str]:
    """GGML type id → name, for every type wfrun reads: the plain float types and the
    quantized types diffusers dequantizes."""
    g = _gguf()
    return {int(g.GGMLQuantizationType[name]): name for name in _PLAIN + DEQUANTIZED}


def is_quantized(info: TensorInfo) -> bool:
    return isinstance(info, GGUFTensorInfo) and info.dtype not in _PLAIN


@dataclass(frozen=True)
class GGUFTensorInfo(TensorInfo):
    """A tensor of a GGUF file: ``shape`` is the logical shape (PyTorch order), ``stored``
    the shape its data has in the file (differs only where ``comfy.gguf.orig_shape`` says),
    ``qtype`` the GGML type id."""

    qtype: int = 0
    stored: tuple[int, ...] = ()

    @property
    def byte_shape(self) -> tuple[int, ...]:
        """The shape of the raw bytes: rows of whole blocks (``gguf.quants.quant_shape_to_byte_shape``)."""
        block, size = _gguf().GGML_QUANT_SIZES[_gguf().GGMLQuantizationType(self.qtype)]
        *rows, last = self.stored
        return (*rows, last // block * size)


@dataclass(frozen=True)
class GGUFHeader(CheckpointHeader):
    """A checked GGUF header: ``tensors`` (file order), the metadata as Python values in
    ``fields`` (``metadata`` keeps the text and number ones as text, for ``detect``)."""

    version: int = 3
    alignment: int = 32
    data_start: int = 0
    fields: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def architecture(self) -> str | None:
        value = self.fields.get("general.architecture")
        return value if isinstance(value, str) else None


class _Cursor:
    """Sequential reads of a header that never go past the end of the file."""

    def __init__(self, path: Path, handle: BinaryIO, size: int):
        self.path, self.handle, self.size, self.offset = path, handle, size, 0

    @property
    def left(self) -> int:
        return self.size - self.offset

    def take(self, n: int, what: str) -> bytes:
        if n > self.left:
            raise CheckpointError(
                f"{self.path}: truncated or corrupt GGUF header ({what} needs {n:,} bytes at byte {self.offset:,}, "
                f"the file has {self.left:,} left); {_DAMAGED}")
        data = self.handle.read(n)
        if len(data) != n:
            raise CheckpointError(f"{self.path}: truncated while being read (at byte {self.offset:,}); {_DAMAGED}")
        self.offset += n
        return data

    def unpack(self, fmt: str, what: str) -> Any:
        values = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))
        return values[0] if len(values) == 1 else values

    def text(self, limit: int, what: str) -> str:
        n = self.unpack("Q", f"the length of {what}")
        if n > limit:
            raise CheckpointError(f"{self.path}: corrupt GGUF header ({what} is {n:,} bytes long, over wfrun's "
                                  f"limit of {limit:,}); {_DAMAGED}")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{self.path}: corrupt GGUF header ({what} is not UTF-8 text); {_DAMAGED}") from None


#: struct format of each scalar GGUF value type (by ``GGUFValueType`` name).
_SCALARS = {"UINT8": "B", "INT8": "b", "UINT16": "H", "INT16": "h", "UINT32": "I", "INT32": "i", "FLOAT32": "f",
            "BOOL": "?", "UINT64": "Q", "INT64": "q", "FLOAT64": "d"}


def _too_many(count: int, cap: int, what: str) -> str:
    if count > cap:
        return f"corrupt GGUF header (it declares {count:,} {what}, more than wfrun reads: {cap:,})"
    return f"truncated or corrupt GGUF header (it declares {count:,} {what}, more than the rest of the file can hold)"


def _value(cur: _Cursor, vtype: int, key: str, depth: int = 0) -> Any:
    g = _gguf()
    try:
        kind = g.GGUFValueType(vtype).name
    except ValueError:
        raise CheckpointError(f"{cur.path}: corrupt GGUF header (metadata {key!r} has the unknown value type "
                              f"{vtype}); {_DAMAGED}") from None
    if kind == "STRING":
        return cur.text(MAX_STRING_BYTES, f"the value of {key!r}")
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        if fmt == "?":
            byte = cur.unpack("B", f"the value of {key!r}")
            if byte > 1:
                raise CheckpointError(f"{cur.path}: corrupt GGUF header (metadata {key!r} is a boolean of value "
                                      f"{byte}); {_DAMAGED}")
            return bool(byte)
        return cur.unpack(fmt, f"the value of {key!r}")
    # an array: item type, count, items
    if depth >= MAX_ARRAY_DEPTH:
        raise CheckpointError(f"{cur.path}: corrupt GGUF header (metadata {key!r} nests arrays more than "
                              f"{MAX_ARRAY_DEPTH} deep); {_DAMAGED}")
    item_type, count = cur.unpack("IQ", f"the array header of {key!r}")
    try:
        item_kind = g.GGUFValueType(item_type).name
    except ValueError:
        raise CheckpointError(f"{cur.path}: corrupt GGUF header (array {key!r} has the unknown item type "
                              f"{item_type}); {_DAMAGED}") from None
    smallest = struct.calcsize("<" + _SCALARS[item_kind]) if item_kind in _SCALARS else 8
    if count > MAX_ARRAY_ITEMS or count * smallest > cur.left:
        raise CheckpointError(f"{cur.path}: {_too_many(count, MAX_ARRAY_ITEMS, f'items in array {key!r}')}; "
                              f"{_DAMAGED}")
    if item_kind in _SCALARS and item_kind != "BOOL":
        fmt = _SCALARS[item_kind]
        return struct.unpack(f"<{count}{fmt}", cur.take(count * struct.calcsize(fmt), f"array {key!r}"))
    return tuple(_value(cur, item_type, key, depth + 1) for _ in range(count))


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """The checked header of a GGUF file; a one-line :class:`CheckpointError` naming the file
    (and the key or tensor) for anything malformed, truncated, oversized or of a type wfrun
    cannot dequantize."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            return _read(path, handle, size)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror})") from None


def _read(path: Path, handle: BinaryIO, size: int) -> GGUFHeader:
    g = _gguf()
    cur = _Cursor(path, handle, size)
    if size < 24:
        raise CheckpointError(f"{path}: too short to be a GGUF file ({size} bytes); {_DAMAGED}")
    magic = cur.take(4, "the magic")
    if magic != b"GGUF":
        raise CheckpointError(f"{path}: not a GGUF file (it starts with {magic!r}, not b'GGUF')")
    version = cur.unpack("I", "the version")
    if version not in VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in VERSIONS:
            raise CheckpointError(f"{path}: a big-endian GGUF file, which wfrun does not read; use the "
                                  "little-endian release of this model")
        raise CheckpointError(f"{path}: GGUF version {version}, which wfrun does not read (it reads versions "
                              f"{' and '.join(map(str, VERSIONS))}); {_DAMAGED}")
    n_tensors, n_keys = cur.unpack("QQ", "the counts")
    if n_keys > MAX_KEYS or n_keys * 13 > cur.left:  # key length, value type, a 1-byte value
        raise CheckpointError(f"{path}: {_too_many(n_keys, MAX_KEYS, 'metadata entries')}; {_DAMAGED}")
    if n_tensors > MAX_TENSORS or n_tensors * 24 > cur.left:  # the smallest tensor info record
        raise CheckpointError(f"{path}: {_too_many(n_tensors, MAX_TENSORS, 'tensors')}; {_DAMAGED}")
    fields: dict[str, Any] = {}
    for _ in range(n_keys):
        key = cur.text(MAX_KEY_BYTES, "a metadata key")
        vtype = cur.unpack("I", f"the type of {key!r}")
        if key in fields:
            raise CheckpointError(f"{path}: corrupt GGUF header (metadata {key!r} appears twice); {_DAMAGED}")
        fields[key] = _value(cur, vtype, key)

    alignment = fields.get("general.alignment", g.GGUF_DEFAULT_ALIGNMENT)
    if (not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0
            or alignment & (alignment - 1) or alignment > MAX_ALIGNMENT):
        raise CheckpointError(f"{path}: corrupt GGUF header (general.alignment is {alignment!r}, not a power of "
                              f"two up to {MAX_ALIGNMENT}); {_DAMAGED}")
    types = supported_types()
    raw: list[tuple[str, int, tuple[int, ...], int]] = []
    seen: set[str] = set()
    for _ in range(n_tensors):
        name = cur.text(MAX_NAME_BYTES, "a tensor name")
        n_dims = cur.unpack("I", f"the dimension count of tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise CheckpointError(f"{path}: corrupt GGUF header (tensor {name!r} has {n_dims:,} dimensions, "
                                  f"more than {MAX_DIMS}); {_DAMAGED}")
        dims = cur.unpack(f"{n_dims}Q", f"the dimensions of tensor {name!r}") if n_dims else ()
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        qtype, offset = cur.unpack("IQ", f"the type and offset of tensor {name!r}")
        if name in seen:
            raise CheckpointError(f"{path}: corrupt GGUF header (tensor {name!r} appears twice); {_DAMAGED}")
        seen.add(name)
        if qtype not in types:
            known = g.GGMLQuantizationType(qtype).name if qtype in {int(t) for t in g.GGMLQuantizationType} else None
            what = f"the GGML type {known}" if known else f"the unknown GGML type {qtype}"
            raise CheckpointError(
                f"{path}: tensor {name!r} has {what}, which wfrun cannot dequantize (it reads "
                f"{', '.join(sorted(types.values()))}); use a release of this model in one of those")
        raw.append((name, qtype, dims, offset))
    data_start = cur.offset + (-cur.offset % alignment)
    data_size = size - data_start
    if data_size < 0:
        raise CheckpointError(f"{path}: truncated (the file ends in its header); download it again")

    tensors: dict[str, GGUFTensorInfo] = {}
    spans: list[tuple[int, int, str]] = []
    for name, qtype, dims, offset in raw:
        type_name = types[qtype]
        block, type_size = g.GGML_QUANT_SIZES[g.GGMLQuantizationType(qtype)]
        stored = tuple(int(d) for d in reversed(dims))  # GGUF lists the innermost dimension first
        row = dims[0] if dims else 1
        if row % block:
            raise CheckpointError(f"{path}: corrupt GGUF header (tensor {name!r} of shape {list(stored)} in "
                                  f"{type_name}: its rows of {row:,} are not whole {block}-value blocks); {_DAMAGED}")
        numel = math.prod(stored)
        nbytes = numel // block * type_size
        if offset % alignment:
            raise CheckpointError(f"{path}: corrupt GGUF header (tensor {name!r} starts at data offset {offset:,}, "
                                  f"not a multiple of the alignment {alignment}); {_DAMAGED}")
        if offset + nbytes > data_size:
            raise CheckpointError(
                f"{path}: truncated (tensor {name!r}, {nbytes:,} bytes at data offset {offset:,}, ends past the end "
                f"of the file, which holds {max(data_size, 0):,} bytes of tensor data); download it again")
        shape = _logical_shape(path, name, stored, fields)
        tensors[name] = GGUFTensorInfo(type_name, shape, data_start + offset, data_start + offset + nbytes,
                                       qtype=qtype, stored=stored)
        spans.append((offset, offset + nbytes, name))
    spans.sort()
    for (_, end, before), (start, _, after) in zip(spans, spans[1:]):
        if start < end:
            raise CheckpointError(f"{path}: corrupt GGUF header (tensor {after!r} overlaps tensor {before!r}); "
                                  f"{_DAMAGED}")
    metadata = {k: str(v) for k, v in fields.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}
    return GGUFHeader(path, tensors, metadata, size, version=version, alignment=alignment, data_start=data_start,
                      fields=fields)


def _logical_shape(path: Path, name: str, stored: tuple[int, ...], fields: dict[str, Any]) -> tuple[int, ...]:
    """``comfy.gguf.orig_shape.<name>`` where ComfyUI-GGUF reshaped a tensor to quantize it."""
    orig = fields.get(f"comfy.gguf.orig_shape.{name}")
    if orig is None:
        return stored
    if (not isinstance(orig, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                               for d in orig) or len(orig) > MAX_DIMS):
        raise CheckpointError(f"{path}: corrupt GGUF header (comfy.gguf.orig_shape.{name} is not a list of up to "
                              f"{MAX_DIMS} sizes); {_DAMAGED}")
    if math.prod(orig) != math.prod(stored):
        raise CheckpointError(f"{path}: corrupt GGUF header (comfy.gguf.orig_shape.{name} is {list(orig)}, but the "
                              f"tensor holds {math.prod(stored):,} values, stored as {list(stored)}); {_DAMAGED}")
    return tuple(orig)


class GGUFReader(CheckpointReader):
    """Tensors of a checked GGUF file, one at a time: plain types in their dtype and logical
    shape; quantized ones as their raw bytes (``byte_shape``), for ``GGUFParameter``."""

    def __init__(self, header: GGUFHeader):
        super().__init__(header)
        self.header = header

    @property
    def architecture(self) -> str | None:
        return self.header.architecture

    def read(self, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
        info = self.tensors[name]
        if not is_quantized(info):
            return super().read(name, device)
        buffer = torch.empty(info.end - info.start, dtype=torch.uint8)
        if len(buffer):
            self._read_into(info.start, buffer, name)
        return buffer.reshape(info.byte_shape).to(device)

    iter_tensors = CheckpointReader.read_one_by_one  # quantized tensors are raw bytes in their own shapes


def open_gguf(path: str | Path) -> GGUFReader:
    """A reader for the GGUF file at ``path`` (its header checked first)."""
    return GGUFReader(read_gguf_header(path))
