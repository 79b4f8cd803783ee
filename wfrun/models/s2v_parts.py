"""Wan 2.2 S2V's own parts, built beside diffusers' ``WanTransformer3DModel`` (diffusers
0.42 has no S2V module), under the names the released files use so one loader fills them.

S2V is a Wan 2.1 text-to-video backbone plus (ComfyUI ``WanModel_S2V``, the official
``wan/modules/s2v/model_s2v.py``):

- ``casual_audio_encoder`` (:class:`CausalAudioEncoder`): the wav2vec2 hidden states of
  every layer, mixed by ``silu(weights)`` normalised to sum 1, then causal 1-D convs
  (kernel 3, left-padded by repeating the first step; two of stride 2, so four audio steps
  per latent frame become one). The *local* path gives ``tokens`` heads of ``dim / 4``
  channels each brought to ``dim``, plus one learned padding token: ``[B, F, tokens + 1,
  dim]``; the *global* path (one head, then ``final_linear``) gives ``[B, F, 1, dim]``. The
  two paths share ``conv2``/``conv3`` and their (parameter-free) layer norms.
- ``audio_injector`` (:class:`AudioInjector`): after the blocks listed in
  ``S2V_INJECT_LAYERS``, the video tokens of each latent frame (reference and motion
  tokens excluded) go through an AdaIN — layer norm (eps 1e-5, no affine) times
  ``1 + scale`` plus ``shift``, both from ``linear(silu(global token))`` of that frame —
  then attend (``q``/``k``/``v``/``o`` with RMS-normed q and k over the whole width) to
  that frame's local audio tokens; the result is added to them.
- ``frame_packer`` (:class:`FramePacker`): the last 19 latent frames of the video so far
  (zeros in front when fewer), split nearest first into 1, 2 and 16 frames, patched by
  ``proj`` (1x2x2), ``proj_2x`` (2x4x4) and ``proj_4x`` (4x8x8): fewer tokens the further
  back. Their RoPE positions are :func:`motion_positions`.
- ``trainable_cond_mask``: three learned vectors added to the video, reference and motion
  tokens respectively.
- ``cond_encoder``: a 1x2x2 patch convolution of the pose/control video's latents, added
  to the patch embedding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.families.wan_transformer import S2V_INJECT_LAYERS, S2V_MODULES, S2V_MOTION_BUCKETS

#: Layer-norm epsilons: the encoder's and the injector's plain norms, and the AdaIN's norm.
NORM_EPS = 1e-6
ADAIN_EPS = 1e-5
#: The frame packer's three patchings, nearest frames first: (attribute, kernel = stride).
PACKER_PATCHES = (("proj", (1, 2, 2)), ("proj_2x", (2, 4, 4)), ("proj_4x", (4, 8, 8)))
#: The fewest latent rows and columns the motion latents can have: the packer patches them
#: unpadded (as ComfyUI's ``FramePackMotioner``), so a side under the widest patch fails.
MOTION_MIN_LATENT_SIDE = max(kernel[-1] for _, kernel in PACKER_PATCHES)


def _norm(x: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=eps)


class CausalConv1d(nn.Module):
    """A 1-D convolution over time that sees only the past: the input is padded on the left
    by ``kernel - 1`` copies of its first step."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.pad = kernel - 1
        self.conv = nn.Conv1d(cin, cout, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad, 0), mode="replicate"))


class _AudioConvs(nn.Module):
    """``casual_audio_encoder.encoder``: the local and global conv paths (see the module docs)."""

    def __init__(self, audio_dim: int, dim: int, tokens: int):
        super().__init__()
        self.tokens = tokens
        quarter, half = dim // 4, dim // 2
        self.conv1_local = CausalConv1d(audio_dim, quarter * tokens)
        self.conv1_global = CausalConv1d(audio_dim, quarter)
        self.conv2 = CausalConv1d(quarter, half, stride=2)
        self.conv3 = CausalConv1d(half, dim, stride=2)
        self.final_linear = nn.Linear(dim, dim)
        self.padding_tokens = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C/4, T]`` (after the first conv) → ``[N, T/4, dim]``: norm, SiLU, conv2, norm, SiLU, conv3, norm, SiLU."""
        x = F.silu(_norm(x.transpose(1, 2)))
        x = F.silu(_norm(self.conv2(x.transpose(1, 2)).transpose(1, 2)))
        return F.silu(_norm(self.conv3(x.transpose(1, 2)).transpose(1, 2)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``[B, C, T]`` → (global ``[B, T/4, 1, dim]``, local ``[B, T/4, tokens + 1, dim]``)."""
        b, _, t = x.shape
        local = self.conv1_local(x)  # [B, tokens * dim/4, T], channels grouped by token
        local = local.view(b, self.tokens, -1, t).reshape(b * self.tokens, -1, t)
        local = self._down(local)
        local = local.view(b, self.tokens, *local.shape[1:]).transpose(1, 2)  # [B, T', tokens, dim]
        pad = self.padding_tokens.to(local.dtype).expand(b, local.shape[1], 1, -1)
        local = torch.cat([local, pad], dim=2)
        glob = self.final_linear(self._down(self.conv1_global(x)))
        return glob.unsqueeze(2), local


class CausalAudioEncoder(nn.Module):
    """``casual_audio_encoder`` (the files' spelling): wav2vec2 layers ``[B, layers, C, T]``
    → (global, local) audio tokens per latent frame."""

    def __init__(self, audio_dim: int, layers: int, dim: int, tokens: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(1, layers, 1, 1))
        self.encoder = _AudioConvs(audio_dim, dim, tokens)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = F.silu(self.weights.to(features.dtype))
        mixed = (features * w / w.sum(dim=1, keepdim=True)).sum(dim=1)  # [B, C, T]
        return self.encoder(mixed)


class _AudioAttention(nn.Module):
    """One injector: attention with RMS-normed queries and keys over the whole width."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = nn.RMSNorm(dim, eps=NORM_EPS)
        self.norm_k = nn.RMSNorm(dim, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        n, lq, dim = x.shape
        heads = lambda t: t.view(n, t.shape[1], self.heads, dim // self.heads).transpose(1, 2)  # noqa: E731
        q = heads(self.norm_q(self.q(x)))
        k = heads(self.norm_k(self.k(context)))
        v = heads(self.v(context))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.o(out.transpose(1, 2).reshape(n, lq, dim))


class _AdaIN(nn.Module):
    """``injector_adain_layers.N``: layer norm of the tokens, scaled and shifted by the
    frame's global audio token."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)

    def forward(self, x: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        shift, scale = self.linear(F.silu(token)).chunk(2, dim=-1)
        return _norm(x, ADAIN_EPS) * (1 + scale[:, None]) + shift[:, None]


class AudioInjector(nn.Module):
    """``audio_injector``: ``injector.N`` and ``injector_adain_layers.N`` for the N-th entry
    of the injection layers."""

    def __init__(self, dim: int, heads: int, count: int, layers: tuple[int, ...] = S2V_INJECT_LAYERS):
        super().__init__()
        self.after_block = {block: n for n, block in enumerate(layers[:count])}
        self.injector = nn.ModuleList(_AudioAttention(dim, heads) for _ in range(count))
        self.injector_adain_layers = nn.ModuleList(_AdaIN(dim) for _ in range(count))

    def forward(self, x: torch.Tensor, block: int, local: torch.Tensor, glob: torch.Tensor,
                video_tokens: int, scale: float = 1.0) -> torch.Tensor:
        """``x`` ``[B, L, dim]`` after block ``block``; its first ``video_tokens`` are the video's
        (``F`` latent frames, as many as ``local`` ``[B, F, n, dim]`` has). ``scale`` multiplies
        the local audio tokens the attention reads (the wrapper's ``audio_scale``; ComfyUI has
        none, i.e. 1)."""
        n = self.after_block.get(block)
        if n is None:
            return x
        b, frames = local.shape[:2]
        video = x[:, :video_tokens].reshape(b * frames, video_tokens // frames, x.shape[-1])
        hidden = self.injector_adain_layers[n](video, glob.reshape(b * frames, -1, glob.shape[-1])[:, 0])
        context = local.reshape(b * frames, -1, local.shape[-1]).to(hidden.dtype)
        out = self.injector[n](hidden, context * scale if scale != 1.0 else context)
        x = x.clone()
        x[:, :video_tokens] = x[:, :video_tokens] + out.reshape(b, video_tokens, -1).to(x.dtype)
        return x


class FramePacker(nn.Module):
    """``frame_packer``: the three patch convolutions of the motion latents."""

    def __init__(self, latent_channels: int, dim: int):
        super().__init__()
        for name, kernel in PACKER_PATCHES:
            setattr(self, name, nn.Conv3d(latent_channels, dim, kernel_size=kernel, stride=kernel))

    def forward(self, motion: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int, int]]]:
        """``motion`` ``[B, C, T, h, w]`` (normalised latents) → (tokens ``[B, n, dim]``, the
        (frames, rows, columns) grid of each patching, nearest first). Fewer than 19 frames are
        zero-padded in front; more keep the last 19."""
        total = sum(S2V_MOTION_BUCKETS)
        padded = motion.new_zeros(*motion.shape[:2], total, *motion.shape[3:])
        keep = min(total, motion.shape[2])
        if keep:
            padded[:, :, total - keep:] = motion[:, :, motion.shape[2] - keep:]
        # oldest first in the file's order: 16 frames, 2, then the newest 1
        far, mid, near = padded.split(tuple(reversed(S2V_MOTION_BUCKETS)), dim=2)
        tokens, grids = [], []
        for (name, _), part in zip(PACKER_PATCHES, (near, mid, far)):
            conv = getattr(self, name)
            out = conv(part.to(conv.weight.dtype))
            grids.append(tuple(out.shape[2:]))
            tokens.append(out.flatten(2).transpose(1, 2))
        return torch.cat(tokens, dim=1), grids


def extra_parts(config: dict[str, Any]) -> dict[str, Any]:
    """What :func:`attach` needs from a detected config (``models.detect``), or {}."""
    if not config.get("s2v_injectors"):
        return {}
    return {"s2v": {k: config[k] for k in ("s2v_audio_dim", "s2v_audio_layers", "s2v_audio_tokens", "s2v_injectors",
                                            "s2v_cond_dim")} | {"latent_channels": int(config["out_dim"])}}


def attach(model: nn.Module, parts: dict[str, Any]) -> nn.Module:
    """Add S2V's modules to a diffusers Wan transformer (any device, ``meta`` included)."""
    s = parts.get("s2v")
    if not s:
        return model
    dim = int(model.config.num_attention_heads * model.config.attention_head_dim)
    model.casual_audio_encoder = CausalAudioEncoder(s["s2v_audio_dim"], s["s2v_audio_layers"], dim,
                                                    s["s2v_audio_tokens"])
    model.audio_injector = AudioInjector(dim, int(model.config.num_attention_heads), s["s2v_injectors"])
    model.frame_packer = FramePacker(s["latent_channels"], dim)
    model.trainable_cond_mask = nn.Embedding(3, dim)
    if s["s2v_cond_dim"]:
        patch = tuple(int(p) for p in model.config.patch_size)
        model.cond_encoder = nn.Conv3d(s["s2v_cond_dim"], dim, kernel_size=patch, stride=patch)
    return model


def is_s2v(model: Any) -> bool:
    """Whether a loaded transformer carries S2V's parts."""
    return getattr(model, "casual_audio_encoder", None) is not None


#: Top-level names of these parts in the files, kept as they are by the key renames.
PART_PREFIXES = tuple(f"{name}." for name in S2V_MODULES)
