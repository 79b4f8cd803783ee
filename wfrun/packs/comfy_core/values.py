"""Checks the core executors share: an input is the kind of value its socket carries, or a
NodeInputError names the input, what was found and what was expected."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


def image_input(value: Any, name: str) -> torch.Tensor:
    """An IMAGE: float tensor [frames, height, width, channels] with at least one frame."""
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0 \
            or not value.is_floating_point():
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], "
                             f"found {describe(value)}", f"connect an IMAGE output to '{name}'")
    return value


def mask_input(value: Any, name: str) -> torch.Tensor:
    """A MASK as [frames, height, width]; a single [height, width] mask gains its frame axis
    (ComfyUI's nodes reshape masks the same way)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        if value.ndim == 2:
            return value.unsqueeze(0)
        if value.ndim == 3 and value.shape[0] > 0:
            return value
        if value.ndim == 4 and value.shape[1] == 1:  # [frames, 1, height, width]
            return value[:, 0]
    raise NodeInputError(name, f"{name}: expected a MASK [frames, height, width], found {describe(value)}",
                         f"connect a MASK output to '{name}'")


def int_input(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise NodeInputError(name, f"{name}: expected a whole number, found {describe(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"from {low}" if high is None else (f"up to {high}" if low is None else f"from {low} to {high}")
        raise NodeInputError(name, f"{name} is {value}; expected a whole number {span}")
    return value


def float_input(value: Any, name: str, low: float | None = None, high: float | None = None,
                above: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise NodeInputError(name, f"{name}: expected a number, found {describe(value)}")
    value = float(value)
    if (low is not None and value < low) or (high is not None and value > high) or (
            above is not None and value <= above):
        want = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else "",
                f"> {above}" if above is not None else ""]
        raise NodeInputError(name, f"{name} is {value}; expected a number {' and '.join(w for w in want if w)}")
    return value


def choice_input(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise NodeInputError(name, f"{name} is {value!r}; expected one of {', '.join(options)}")
    return value
