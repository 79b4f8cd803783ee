"""UltraViCo attention (thu-ml's DiT-Extrapolation, "ultra-wan" branch) as the wrapper runs
it under the loader's ``attention_mode`` ``sageattn_ultravico`` (2025-12-30 on), computed
densely here: the pack's kernel is a SageAttention variant (int8 queries and keys) whose
logits it edits; wfrun applies the same edits to exact attention, the reference the kernel
approximates.

For queries ``m`` and keys ``n`` (token positions) with ``frame_tokens`` tokens per latent
frame and a window of 21 frames: keys are first centred (their mean over the sequence
subtracted, as the kernel's ``smooth_k``: it leaves plain softmax unchanged but decides which
logits are positive); a positive logit farther than ``frame_tokens * 21 / 2`` tokens is
multiplied by ``alpha``; the queries of the first ``frame_tokens + 1`` tokens do not see keys
beyond ``21 * frame_tokens``. As in the pack, every attention of the model runs this way:
self-attention with the tokens per frame of the video and WanVideoUltraVicoSettings' alpha,
the text and image cross-attention with the kernel's defaults (alpha 0.9, 1536 tokens per
frame), since the pack passes them neither.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.rope import apply_rotary

WINDOW = 21
#: What the pack's cross-attention calls get (its defaults).
CROSS_ALPHA, CROSS_FRAME_TOKENS = 0.9, 1536
#: Logit entries computed at once (queries are taken in chunks to stay under it).
CHUNK_ELEMENTS = 1 << 28


def ultravico_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, alpha: float,
                        frame_tokens: int) -> torch.Tensor:
    """Attention of ``[B, S, H, D]`` tensors with UltraViCo's logit edits (module docs)."""
    b, sq, h, d = query.shape
    sk = key.shape[1]
    q = query.float().transpose(1, 2)
    k = key.float().transpose(1, 2)
    k = k - k.mean(dim=2, keepdim=True)
    v = value.float().transpose(1, 2)
    n = torch.arange(sk, device=query.device)
    reach = frame_tokens * WINDOW / 2
    rows = max(1, CHUNK_ELEMENTS // max(1, b * h * sk))
    outs = []
    for start in range(0, sq, rows):
        m = torch.arange(start, min(sq, start + rows), device=query.device)
        logits = torch.einsum("bhmd,bhnd->bhmn", q[:, :, m], k) * d ** -0.5
        far = (m[:, None] - n[None, :]).abs() > reach
        logits = torch.where(far & (logits >= 0), logits * alpha, logits)
        blocked = (m[:, None] <= frame_tokens) & (n[None, :] > WINDOW * frame_tokens)
        logits = logits.masked_fill(blocked, float("-inf"))
        outs.append(torch.softmax(logits, dim=-1) @ v)
    return torch.cat(outs, dim=2).transpose(1, 2).to(query.dtype)


class UltraVicoProcessor:
    """diffusers' ``WanAttnProcessor`` with :func:`ultravico_attention` in place of its
    dispatched attention (the I2V image keys too)."""

    def __init__(self, alpha: float, frame_tokens: int):
        self.alpha = float(alpha)
        self.frame_tokens = int(frame_tokens)

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, rotary_emb: Any = None) -> torch.Tensor:
        from diffusers.models.transformers.transformer_wan import _get_added_kv_projections, _get_qkv_projections

        image = None
        if attn.add_k_proj is not None:
            split = encoder_hidden_states.shape[1] - 512  # the text context is 512 tokens, as diffusers
            image, encoder_hidden_states = encoder_hidden_states[:, :split], encoder_hidden_states[:, split:]
        query, key, value = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        if rotary_emb is not None:
            query, key = apply_rotary(query, *rotary_emb), apply_rotary(key, *rotary_emb)
        out = ultravico_attention(query, key, value, self.alpha, self.frame_tokens).flatten(2, 3).type_as(query)
        if image is not None:
            key_img, value_img = _get_added_kv_projections(attn, image)
            key_img = attn.norm_added_k(key_img).unflatten(2, (attn.heads, -1))
            value_img = value_img.unflatten(2, (attn.heads, -1))
            out = out + ultravico_attention(query, key_img, value_img, self.alpha,
                                            self.frame_tokens).flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))
