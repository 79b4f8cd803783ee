"""Values the Florence2 pack passes between nodes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True, eq=False)
class Florence2Model:
    """``FL2MODEL``: the pack's ``{"model", "processor", "dtype"}`` dict, as a value.

    ``model`` is a ``transformers.Florence2ForConditionalGeneration`` whose weights are in
    ``dtype``; ``processor`` its ``Florence2Processor``; ``layout`` the folder's layout
    (``transformers`` or ``original``)."""

    model: Any
    processor: Any
    dtype: torch.dtype
    folder: Path
    layout: str
