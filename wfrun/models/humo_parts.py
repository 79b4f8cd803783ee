"""HuMo's audio parts (ByteDance's human-centric Wan 2.1 model), built beside diffusers'
``WanTransformer3DModel`` under the names the released files use, so one loader fills them.

HuMo is a Wan 2.1 text-to-video backbone (ComfyUI ``HumoWanModel``; the official
``humo/models/wan_modules/model_humo.py``) plus:

- ``audio_proj`` (:class:`AudioProjection`): per latent frame, a window of 8 Whisper
  feature frames of 5 layer groups (``[8, 5, C]``, C = 1280 for Whisper large-v3), flattened
  and brought through two ReLU-ed linears (``audio_proj_glob_1``, ``_2``), a third to
  ``tokens x width`` values and a LayerNorm (eps 1e-5): ``tokens`` (16) audio tokens of
  ``width`` (1536) per latent frame. Each layer sits in a ``.layer`` wrapper in the files.
- ``blocks.N.audio_cross_attn_wrapper`` (:class:`AudioCrossAttention`) in every block: right
  after the block's text cross-attention, ``x + attention(norm1_audio(x), audio)`` where
  ``norm1_audio`` is an affine LayerNorm (eps 1e-6) and the attention (``audio_cross_attn``:
  ``q`` from the model width, ``k``/``v`` from the audio width, RMS norms of q and k over the
  whole width, ``o``) lets each latent frame's tokens attend to that frame's audio tokens
  only (ComfyUI's ``WanT2VCrossAttentionGather``: the sequence is split evenly into as many
  groups as the audio has frames).

ComfyUI fixes the window (8), the groups (5) and the token count (16); wfrun reads the
widths and the token count from the tensors (``models.detect``), so tiny files can be small.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.families.wan_transformer import HUMO_AUDIO_GROUPS, HUMO_AUDIO_WINDOW, HUMO_MODULES

#: Epsilons: the block norms' (Wan's), and the projection's closing LayerNorm (torch's default).
NORM_EPS, PROJ_NORM_EPS = 1e-6, 1e-5
#: The wrapper module each block carries, as the files name it.
BLOCK_PART = "audio_cross_attn_wrapper"


class _Wrapped(nn.Module):
    """``name.layer``: the files keep each projection layer one level down."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class AudioProjection(nn.Module):
    """``audio_proj``: ``[B, F, window, groups, C]`` Whisper features → ``[B, F, tokens, width]``."""

    def __init__(self, in_dim: int, hidden: int, tokens: int, width: int):
        super().__init__()
        self.tokens, self.width = tokens, width
        self.audio_proj_glob_1 = _Wrapped(nn.Linear(in_dim, hidden))
        self.audio_proj_glob_2 = _Wrapped(nn.Linear(hidden, hidden))
        self.audio_proj_glob_3 = _Wrapped(nn.Linear(hidden, tokens * width))
        self.audio_proj_glob_norm = _Wrapped(nn.LayerNorm(width, eps=PROJ_NORM_EPS))

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype: the closing norm's (the linears may hold GGUF-quantized bytes)."""
        return self.audio_proj_glob_norm.layer.weight.dtype

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, f = features.shape[:2]
        x = features.reshape(b * f, -1).to(self.dtype)
        x = torch.relu(self.audio_proj_glob_1(x))
        x = torch.relu(self.audio_proj_glob_2(x))
        x = self.audio_proj_glob_3(x).reshape(b * f, self.tokens, self.width)
        return self.audio_proj_glob_norm(x).reshape(b, f, self.tokens, self.width)


class _FrameAttention(nn.Module):
    """``audio_cross_attn``: each latent frame's tokens attend to that frame's audio tokens."""

    def __init__(self, dim: int, kv_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.o = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.k, self.v = nn.Linear(kv_dim, dim), nn.Linear(kv_dim, dim)
        self.norm_q = nn.RMSNorm(dim, eps=NORM_EPS)
        self.norm_k = nn.RMSNorm(dim, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, L, dim]``; ``audio`` ``[B, F, tokens, kv_dim]`` with ``L`` a multiple of ``F``."""
        b, length, dim = x.shape
        frames, tokens = audio.shape[1:3]
        if length % frames:
            raise ValueError(f"{length} tokens do not split into {frames} latent frames of audio")
        head_dim = dim // self.heads
        q = self.norm_q(self.q(x)).reshape(b * frames, length // frames, self.heads, head_dim).transpose(1, 2)
        audio = audio.reshape(b, frames * tokens, -1).to(x.dtype)
        k = self.norm_k(self.k(audio)).reshape(b * frames, tokens, self.heads, head_dim).transpose(1, 2)
        v = self.v(audio).reshape(b * frames, tokens, self.heads, head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.o(out.transpose(1, 2).reshape(b, length, dim))


class AudioCrossAttention(nn.Module):
    """``blocks.N.audio_cross_attn_wrapper``: the term a block adds after its text cross-attention."""

    def __init__(self, dim: int, kv_dim: int, heads: int):
        super().__init__()
        self.audio_cross_attn = _FrameAttention(dim, kv_dim, heads)
        self.norm1_audio = nn.LayerNorm(dim, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """What is added to ``x`` (not ``x`` plus it)."""
        return self.audio_cross_attn(self.norm1_audio(x), audio)


def extra_parts(config: dict[str, Any]) -> dict[str, Any]:
    """What :func:`attach` needs from a detected config (``models.detect``), or {}."""
    if not config.get("humo_audio_in"):
        return {}
    return {"humo": {k: int(config[k]) for k in ("humo_audio_in", "humo_hidden", "humo_tokens", "humo_width")}}


def attach(model: nn.Module, parts: dict[str, Any]) -> nn.Module:
    """Add HuMo's modules to a diffusers Wan transformer (any device, ``meta`` included)."""
    h = parts.get("humo")
    if not h:
        return model
    heads = int(model.config.num_attention_heads)
    dim = heads * int(model.config.attention_head_dim)
    model.audio_proj = AudioProjection(h["humo_audio_in"], h["humo_hidden"], h["humo_tokens"], h["humo_width"])
    for block in model.blocks:
        setattr(block, BLOCK_PART, AudioCrossAttention(dim, h["humo_width"], heads))
    return model


def is_humo(model: Any) -> bool:
    """Whether a loaded transformer carries HuMo's parts."""
    return getattr(model, "audio_proj", None) is not None


def feature_shape(model: Any) -> tuple[int, int, int]:
    """The ``(window, groups, channels)`` of one latent frame's Whisper features the model takes."""
    in_dim = model.audio_proj.audio_proj_glob_1.layer.in_features
    return HUMO_AUDIO_WINDOW, HUMO_AUDIO_GROUPS, in_dim // (HUMO_AUDIO_WINDOW * HUMO_AUDIO_GROUPS)


#: Top-level names of these parts in the files, kept as they are by the key renames.
PART_PREFIXES = tuple(f"{name}." for name in HUMO_MODULES)
