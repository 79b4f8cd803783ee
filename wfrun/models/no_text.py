"""Wan transformers without text (MiniMax-Remover): diffusers' Wan modules with the text
embedding and every block's cross-attention taken out.

MiniMax-Remover's blocks are self-attention then feed-forward, with the same six modulation
vectors as every Wan block (shift/scale/gate of each); its file has no ``text_embedding``,
no ``blocks.N.cross_attn`` and no ``blocks.N.norm3`` (``models.families.wan_transformer``,
part ``no_text``). Rather than a model class of its own, wfrun builds diffusers'
``WanTransformer3DModel`` with ``cross_attn_norm=False`` (its ``norm2``, Wan's ``norm3``, is
then an identity) and swaps in two parameterless modules:

- :class:`NoCrossAttention` for each block's ``attn2``: it returns a zero, so the block's
  ``x + attn2(norm2(x), context)`` is ``x`` exactly and the feed-forward sees what
  MiniMax-Remover's own block gives it;
- :class:`NoTextEmbedding` for the condition embedder's ``text_embedder``: it hands the
  context through unprojected. diffusers' embedder still takes a context (and casts the time
  embedding to its dtype), so the sampler passes :func:`placeholder_context`, which no layer
  reads.

The blocks stay diffusers' ``WanTransformerBlock``: compile, block swap, step caches and the
other per-pass hooks treat them like any other Wan model's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class NoCrossAttention(nn.Module):
    """A block's ``attn2`` in a model without cross-attention: its output is a zero (a 0-d
    tensor, broadcast by the block's residual add), whatever the context. ``processor`` is
    there for the per-call code that swaps every block's attention processors and puts them
    back; none is ever called."""

    processor: Any = None

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states.new_zeros(())


class NoTextEmbedding(nn.Module):
    """The condition embedder's ``text_embedder`` in a model without text: the context as given."""

    def forward(self, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        return encoder_hidden_states


def strip_text(model: nn.Module) -> nn.Module:
    """Take the text embedding and every block's cross-attention out of a diffusers Wan
    transformer built with ``cross_attn_norm=False`` (on any device, ``meta`` included)."""
    if getattr(model.config, "cross_attn_norm", False):
        raise ValueError("a model without text must be built with cross_attn_norm=False (it has no norm3)")
    model.condition_embedder.text_embedder = NoTextEmbedding()
    for block in model.blocks:
        block.attn2 = NoCrossAttention()
    return model


def has_text(transformer: Any) -> bool:
    """Whether the transformer reads a text context (False for MiniMax-Remover)."""
    embedder = getattr(transformer, "condition_embedder", None)
    return not isinstance(getattr(embedder, "text_embedder", None), NoTextEmbedding)


def placeholder_context(batch: int, device: Any, dtype: torch.dtype) -> torch.Tensor:
    """The context a model without text is called with: ``[batch, 1, 1]`` zeros in the compute
    dtype (diffusers' embedder casts the time embedding to the context's dtype; nothing else
    reads it)."""
    return torch.zeros(batch, 1, 1, device=device, dtype=dtype)
