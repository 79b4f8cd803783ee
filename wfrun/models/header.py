"""Reading a safetensors header without loading any tensor.

Lets us tell what a checkpoint is (and whether it is a checkpoint at all) from its key
names and shapes in milliseconds, even for a 30 GB file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

#: A header larger than this is not a real safetensors file (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a readable safetensors checkpoint; the message names the file."""


def read_header(path: str | Path) -> dict[str, Any]:
    """Tensor name → ``{"dtype", "shape", "data_offsets"}`` (``__metadata__`` removed)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: too short to be a safetensors file")
            (size,) = struct.unpack("<Q", prefix)
            if size > MAX_HEADER_BYTES or size > path.stat().st_size - 8:
                raise CheckpointError(f"{path}: not a safetensors file (header size {size} is impossible)")
            raw = handle.read(size)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: corrupt safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not an object)")
    header.pop("__metadata__", None)
    return header
