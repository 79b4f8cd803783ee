"""Where wfrun keeps what later runs reuse (compiled kernels, cuDNN plans, text embeddings,
tiny models, the map of installed packages): ``$WFRUN_CACHE``, else ``~/.cache/wfrun``.
The bottom of the house: anything may ask, it asks nothing of wfrun."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$WFRUN_CACHE`` when set (and not empty), else ``~/.cache/wfrun``."""
    return Path(os.environ.get("WFRUN_CACHE") or Path.home() / ".cache" / "wfrun")
