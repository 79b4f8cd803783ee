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


def self_attention_inputs(attn, hidden_states: torch.Tensor, rotary_emb=None):
    """Query, key and value of a diffusers Wan self-attention, as its own processor makes
    them: projected, q and k normed, split into heads ``[batch, tokens, heads, head_dim]``,
    q and k turned by RoPE. For processors that replace only the attention kernel (fp8
    attention, the causal sampler's KV cache)."""
    from diffusers.models.transformers.transformer_wan import _get_qkv_projections

    query, key, value = _get_qkv_projections(attn, hidden_states, None)
    query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
    key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
    value = value.unflatten(2, (attn.heads, -1))
    if rotary_emb is not None:
        query = apply_rotary(query, *rotary_emb)
        key = apply_rotary(key, *rotary_emb)
    return query, key, value


def turned_by_source(cos: torch.Tensor, sin: torch.Tensor, source_id: int,
                     theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The tables ``cos``/``sin`` ``[..., head_dim]`` of an in-context stream (Bernini), each
    pair ``k`` of every head turned further by ``source_id · theta^(-2k / head_dim)``: a 1-D
    rotary position ``source_id`` over the whole head, on top of the stream's own 3-D one.

    ComfyUI's ``WanModel.rope_encode(..., source_id)`` multiplies each pair's 2x2 rotation
    matrix by that of the source position (``comfy.ldm.flux.math.rope``); two rotations
    compose into the rotation by the sum of their angles, which is what the angle-addition
    formulas give here on diffusers' tables (each frequency twice in a row). Source 0 (the
    video being made) is left as it is."""
    if not source_id:
        return cos, sin
    dim = cos.shape[-1]
    omega = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angle = (float(source_id) * omega).repeat_interleave(2)
    c, s = angle.cos().to(cos.device), angle.sin().to(cos.device)
    cos64, sin64 = cos.double(), sin.double()
    return (cos64 * c - sin64 * s).to(cos.dtype), (sin64 * c + cos64 * s).to(sin.dtype)
