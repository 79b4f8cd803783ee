"""Input checks the KJNodes batch, mask and value executors share: IMAGE, MASK, LATENT,
and the comma-separated index lists several nodes take."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError
from wfrun.nodes.values import image, mask  # noqa: F401 (the pack's checks, shared)


def latent(value: Any, name: str) -> torch.Tensor:
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim not in (4, 5):
        raise NodeInputError(name, f"{name}: expected a LATENT with samples [B, C, H, W] or [B, C, T, H, W]",
                             f"connect a LATENT output to '{name}'")
    return samples


def indexes(text: Any, name: str, count: int) -> list[int]:
    """``"0, 1, -1"`` as Python indexes into ``count`` items (negative from the end, as
    torch indexing in the pack); any index outside is refused."""
    try:
        out = [int(part.strip()) for part in str(text).split(",")]
    except ValueError:
        raise NodeInputError(name, f"{name}: expected whole numbers separated by commas, found {text!r}") from None
    bad = [i for i in out if not -count <= i < count]
    if bad:
        raise NodeInputError(name, f"{name}: index {bad[0]} is outside the {count} items", f"use 0 to {count - 1}")
    return out
