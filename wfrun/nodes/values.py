"""Checks of the values ComfyUI's IMAGE, MASK and AUDIO types carry, for executors of any pack: the
shape the node needs, or a NodeInputError naming the input, what was found and what to
connect (packs may not import each other, so the shared check lives here)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError


def _found(value: Any) -> str:
    return f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__


def image(value: Any, name: str) -> torch.Tensor:
    """An IMAGE ``[frames, height, width, channels]`` of at least one frame."""
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0:
        raise NodeInputError(name, f"{name}: expected an IMAGE [frames, height, width, channels], found "
                             f"{_found(value)}", f"connect an IMAGE output to '{name}'")
    return value


def mask(value: Any, name: str) -> torch.Tensor:
    """A MASK as ``[frames, height, width]`` (a 2-D mask gets its frame axis, as the packs give it one)."""
    if isinstance(value, torch.Tensor) and value.ndim == 2:
        value = value.unsqueeze(0)
    if not isinstance(value, torch.Tensor) or value.ndim != 3 or value.shape[0] == 0:
        raise NodeInputError(name, f"{name}: expected a MASK [frames, height, width], found {_found(value)}",
                             f"connect a MASK output to '{name}'")
    return value


def audio(value: Any, name: str) -> tuple[torch.Tensor, int]:
    """An AUDIO value ``{waveform: [batch, channels, samples] float, sample_rate: int > 0}``:
    its waveform and sample rate."""
    waveform = value.get("waveform") if isinstance(value, dict) else None
    rate = value.get("sample_rate") if isinstance(value, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or not waveform.is_floating_point() \
            or isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise NodeInputError(name, f"{name}: expected an AUDIO value {{waveform: [batch, channels, samples], "
                             f"sample_rate}}, found {type(value).__name__}", f"connect an AUDIO output to '{name}'")
    return waveform, rate


def text(value: Any, name: str, limit: int) -> str:
    """A STRING of at most ``limit`` characters (text nodes bound what untrusted workflows
    make them work on)."""
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    if len(value) > limit:
        raise NodeInputError(name, f"{name} has {len(value):,} characters; wfrun takes at most {limit:,}")
    return value
