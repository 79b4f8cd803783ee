"""Small JSON files of model folders (``config.json``, preprocessor and tokenizer configs),
read with a size bound: a model folder comes from the user's disk and may hold anything, so
a file that is not a reasonable JSON object is a clear error, never a parse of gigabytes."""

from __future__ import annotations

import json
from pathlib import Path

#: Larger than any real model config or tokenizer file (tokenizer.json files run to tens of MiB).
MAX_JSON_BYTES = 64 * 1024 * 1024


def read_json_object(path: Path, error: type[Exception], what: str = "a model config") -> dict:
    """``path`` as a JSON object, or ``error`` saying why not (missing, too large, not JSON,
    not an object)."""
    if not path.is_file():
        raise error(f"{path.parent}: no {path.name}")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise error(f"{path}: larger than {MAX_JSON_BYTES} bytes; not {what}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: not a JSON object")
    return data
