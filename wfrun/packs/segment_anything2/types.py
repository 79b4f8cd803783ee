"""Values ComfyUI-segment-anything-2 passes between nodes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True, eq=False)
class Sam2ModelValue:
    """``SAM2MODEL``: the pack's ``{"model", "dtype", "device", "segmentor", "version"}`` dict.

    ``model`` is a transformers ``Sam2VideoModel`` (segmentor ``video``) or ``Sam2Model``
    (``single_image``, ``automaskgenerator``), weights in ``dtype``; ``version`` "2.0" or
    "2.1", read from the weights."""

    model: Any
    dtype: torch.dtype
    segmentor: str
    version: str
    path: Path
    offload_device: str = "cpu"
