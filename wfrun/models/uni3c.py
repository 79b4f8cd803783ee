"""Uni3C's controlnet (ewrfcas/Uni3C; the wrapper's ``uni3c/controlnet.py``, 2025-05-26 on):
a small transformer that reads the latents of a video rendered from a point cloud along
the wanted camera path and returns, per layer, a correction for the Wan transformer's
block of the same index.

The network, in the released file's key names:

- ``controlnet_patch_embedding``: Conv3d ``in_channels → conv_out_dim`` over 1x2x2 patches
  (float32), of the main model's first 20 input channels (noisy latents and the I2V mask)
  followed by the 16 render latents (36 in all);
- ``proj_in``: Linear ``conv_out_dim → dim`` (absent when they are equal);
- ``controlnet_blocks.N``: a self-attention block modulated by the main model's time
  embedding ``temb`` (CogVideoX-style ``LayerNormZero``: ``linear(silu(temb))`` → shift,
  scale, gate; LayerNorm ε 1e-5 with affine weights): ``h += gate · attn(norm1(h))`` with
  q/k RMS-normalised over all heads (ε 1e-6) and Wan's 3-D RoPE (``head_dim`` split into
  time/height/width as diffusers' ``WanRotaryPosEmbed``, up to 1024 positions), then
  ``h += gate · ffn(norm2(h))`` (Linear, GELU tanh, Linear);
- ``proj_out.N``: Linear ``dim → main model width``, one state per block.

The pack's ``controlnet_mask_embedding`` (render mask and camera embedding) is never fed
by its nodes (``render_mask`` raises "not implemented", the camera embedding is None);
wfrun loads and keeps its weights but has no path that uses them. Sizes come from the
weights; the head count is the pack's fixed 16 (not in the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.header import CheckpointError

#: The pack's fixed attention heads (1024 wide: heads of 64).
HEADS = 16
ROPE_POSITIONS = 1024
PATCH = (1, 2, 2)


@dataclass(frozen=True)
class Uni3CConfig:
    in_channels: int
    conv_out_dim: int
    dim: int
    ffn_dim: int
    time_embed_dim: int
    out_dim: int
    layers: int
    mask_channels: int = 0   # the unused mask embedding's input channels (7 in the release); 0: absent
    mask_mid: int = 0

    @property
    def render_channels(self) -> int:
        """Channels of the render latents (the rest of the input are the main model's)."""
        return 16


class _LayerNormZero(nn.Module):
    def __init__(self, cond_dim: int, dim: int):
        super().__init__()
        self.linear = nn.Linear(cond_dim, 3 * dim)
        self.norm = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, scale, gate = self.linear(F.silu(temb)).chunk(3, dim=1)
        return self.norm(h) * (1 + scale)[:, None] + shift[:, None], gate[:, None]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (even, odd) pair of ``x`` [B, L, heads, D] by its position's angle
    (the complex product of the pack's ``view_as_complex``)."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 0::2]
    return torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).flatten(-2).type_as(x)


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_q = nn.RMSNorm(dim, eps=1e-6)
        self.norm_k = nn.RMSNorm(dim, eps=1e-6)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q = self.norm_q(self.to_q(h)).unflatten(2, (self.heads, -1))
        k = self.norm_k(self.to_k(h)).unflatten(2, (self.heads, -1))
        v = self.to_v(h).unflatten(2, (self.heads, -1))
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.to_out[0](out.transpose(1, 2).flatten(2).type_as(h))


class Uni3CBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, heads: int, time_embed_dim: int):
        super().__init__()
        self.norm1 = _LayerNormZero(time_embed_dim, dim)
        self.self_attn = _SelfAttention(dim, heads)
        self.norm2 = _LayerNormZero(time_embed_dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim))

    def forward(self, h: torch.Tensor, temb: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        n, gate = self.norm1(h, temb)
        h = h + gate * self.self_attn(n, rope)
        n, gate = self.norm2(h, temb)
        return h + gate * self.ffn(n)


class _MaskEmbedding(nn.Module):
    """The pack's render-mask/camera embedding: kept for its weights, never run (see the
    module docs)."""

    def __init__(self, channels: int, mid: int, out: int):
        super().__init__()
        self.mask_proj = nn.Sequential(nn.Conv3d(channels, mid, kernel_size=(4, 8, 8), stride=(4, 8, 8)),
                                       nn.GroupNorm(mid // 8, mid), nn.SiLU())
        self.mask_zero_proj = nn.Conv3d(mid, out, kernel_size=(1, 2, 2), stride=(1, 2, 2))


class Uni3CControlNet(nn.Module):
    def __init__(self, config: Uni3CConfig):
        super().__init__()
        from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

        c = self.config = config
        if c.dim % HEADS or (c.dim // HEADS) % 2:
            raise ValueError(f"a Uni3C width of {c.dim} does not split into {HEADS} heads of an even size")
        self.controlnet_patch_embedding = nn.Conv3d(c.in_channels, c.conv_out_dim, kernel_size=PATCH, stride=PATCH)
        self.proj_in = nn.Linear(c.conv_out_dim, c.dim) if c.conv_out_dim != c.dim else nn.Identity()
        self.controlnet_blocks = nn.ModuleList(
            [Uni3CBlock(c.dim, c.ffn_dim, HEADS, c.time_embed_dim) for _ in range(c.layers)])
        self.proj_out = nn.ModuleList([nn.Linear(c.dim, c.out_dim) for _ in range(c.layers)])
        if c.mask_channels:
            self.controlnet_mask_embedding = _MaskEmbedding(c.mask_channels, c.mask_mid, c.conv_out_dim)
        self.controlnet_rope = WanRotaryPosEmbed(c.dim // HEADS, PATCH, ROPE_POSITIONS)

    def forward(self, latents: torch.Tensor, temb: torch.Tensor) -> list[torch.Tensor]:
        """``latents`` [B, in_channels, F, H, W] (the main model's first channels, then the
        render latents), ``temb`` [B, time_embed_dim] → one ``[B, F·H/2·W/2, out_dim]``
        state per block."""
        rope = tuple(r.to(latents.device) for r in self.controlnet_rope(latents))
        embed = self.controlnet_patch_embedding
        x = embed(latents.to(embed.weight.device, embed.weight.dtype)).flatten(2).transpose(1, 2)
        dtype = self.proj_out[0].weight.dtype if len(self.proj_out) else x.dtype
        h = self.proj_in(x.to(dtype))
        temb = temb.to(h.device, dtype)
        states = []
        for block, out in zip(self.controlnet_blocks, self.proj_out):
            h = block(h, temb, rope)
            states.append(out(h))
        return states


def config_of(shapes: dict[str, tuple[int, ...]], name: str) -> Uni3CConfig:
    embed = shapes.get("controlnet_patch_embedding.weight")
    if embed is None:
        raise CheckpointError(f"{name}: not a Uni3C controlnet (no controlnet_patch_embedding.weight)")
    layers = 0
    while f"controlnet_blocks.{layers}.ffn.0.weight" in shapes:
        layers += 1
    if not layers or f"proj_out.{layers - 1}.weight" not in shapes:
        raise CheckpointError(f"{name}: a Uni3C controlnet without blocks or their output projections")
    conv_out, in_channels = embed[0], embed[1]
    dim = shapes["proj_in.weight"][0] if "proj_in.weight" in shapes else conv_out
    mask = shapes.get("controlnet_mask_embedding.mask_proj.0.weight")
    return Uni3CConfig(in_channels=in_channels, conv_out_dim=conv_out, dim=dim,
                       ffn_dim=shapes["controlnet_blocks.0.ffn.0.weight"][0],
                       time_embed_dim=shapes["controlnet_blocks.0.norm1.linear.weight"][1],
                       out_dim=shapes["proj_out.0.weight"][0], layers=layers,
                       mask_channels=mask[1] if mask else 0, mask_mid=mask[0] if mask else 0)


def load_uni3c(path: str | Path, *, dtype: torch.dtype = torch.float16, allow_pickle: bool | None = None
               ) -> Uni3CControlNet:
    """The controlnet of a file, its weights in ``dtype`` but the patch embedding in float32
    (the pack's loader). CheckpointError for a file that is not one."""
    from wfrun.models.reader import open_checkpoint, read_checked_state

    path = Path(path)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        shapes = {k: tuple(v.shape) for k, v in reader.tensors.items()}
        config = config_of(shapes, path.name)
        try:
            with torch.device("meta"):
                module = Uni3CControlNet(config)
        except ValueError as err:
            raise CheckpointError(f"{path.name}: {err}") from None
        state = read_checked_state(
            reader, path, module.state_dict(), "Uni3C controlnet",
            lambda key, t: t.to(torch.float32 if key.startswith("controlnet_patch_embedding.") else dtype))
    rope = module.controlnet_rope
    module.controlnet_rope = type(rope)(rope.attention_head_dim, rope.patch_size, rope.max_seq_len)  # off meta
    module.load_state_dict(state, assign=True, strict=True)
    return module.eval().requires_grad_(False)


def tiny_state_dict(*, seed: int = 0, in_channels: int = 36, conv_out_dim: int = 32, dim: int = 96, ffn_dim: int = 64,
                    layers: int = 2, out_dim: int = 32, mask_channels: int = 7, mask_mid: int = 16
                    ) -> dict[str, torch.Tensor]:
    """Random weights in the released key layout (sized for the tiny Wan transformers:
    ``conv_out_dim``/``out_dim`` their width, and 16 heads of 6)."""
    config = Uni3CConfig(in_channels, conv_out_dim, dim, ffn_dim, conv_out_dim, out_dim, layers, mask_channels,
                         mask_mid)
    with torch.device("meta"):
        module = Uni3CControlNet(config)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in module.state_dict().items():
        if key.endswith("norm.weight") or "norm_q" in key or "norm_k" in key or key.endswith("mask_proj.1.weight"):
            out[key] = 1.0 + 0.1 * torch.randn(value.shape, generator=g)
        else:
            fan_in = value[0].numel() if value.ndim > 1 else 1
            out[key] = torch.randn(value.shape, generator=g) * (fan_in ** -0.5 if value.ndim > 1 else 0.05)
    return out


def write_tiny(path: str | Path, *, dtype: torch.dtype = torch.float16, seed: int = 0, **sizes: Any) -> Path:
    from wfrun.models.tiny import write_state

    return write_state(path, tiny_state_dict(seed=seed, **sizes), dtype)
