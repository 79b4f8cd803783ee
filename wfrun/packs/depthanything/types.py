"""Values the DepthAnythingV2 pack passes between nodes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True, eq=False)
class DepthAnythingModel:
    """``DAMODEL``: the pack's ``{"model", "dtype", "is_metric"}`` dict, as a value.

    ``model`` is a ``transformers.DepthAnythingForDepthEstimation`` with fp32 weights (as in the
    pack, whose module is fp32 whatever the file stores); ``dtype`` is the autocast dtype the
    depth node computes in. ``variant`` is the size read from the weights (``vits``, ``vitb``,
    ``vitl``, ``vitg`` or ``tiny``).
    """

    model: Any
    dtype: torch.dtype
    is_metric: bool
    variant: str
    path: Path
