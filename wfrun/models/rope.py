"""Wan's rotary position embedding applied to queries and keys, as diffusers' ``WanAttnProcessor``
does it: pairs ``(2i, 2i+1)`` of each head turned by the cos/sin tables. Kept here, below the
samplers and the model parts, so every attention that re-implements a Wan processor (FETA,
chunked attention, InfiniteTalk's speakers, fp8 attention) turns its vectors the same way."""

from __future__ import annotations

import torch


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x`` ``[batch, tokens, heads, head_dim]`` turned by diffusers' Wan RoPE tables."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)
