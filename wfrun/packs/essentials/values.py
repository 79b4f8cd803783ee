"""Input checks shared by the essentials executors: an IMAGE, a MASK, a whole number."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError


def image(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0:
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], found {found}",
                             f"connect an IMAGE output to '{name}'")
    return value


def mask(value: Any, name: str) -> torch.Tensor:
    """A MASK as ``[frames, height, width]`` (a 2-D mask gets its frame axis, as the pack does)."""
    if isinstance(value, torch.Tensor) and value.ndim == 2:
        value = value.unsqueeze(0)
    if not isinstance(value, torch.Tensor) or value.ndim != 3 or value.shape[0] == 0:
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected a MASK [frames, height, width], found {found}",
                             f"connect a MASK output to '{name}'")
    return value


def whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    return int(value)


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a number, found {value!r}")
    return float(value)


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise NodeInputError(name, f"{name}: unknown option {value!r}", f"use one of {', '.join(options)}")
    return value
