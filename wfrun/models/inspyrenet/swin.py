"""The Swin Transformer backbone InSPyReNet's released checkpoints were trained with.

It is the hierarchical Swin of Liu et al. (2021) in its detection-backbone form (the one
with padding for sizes that are not multiples of the window): a 4x4 patch embedding with a
LayerNorm, four stages of windowed self-attention blocks that alternate plain and shifted
windows, a 2x2 patch merging between stages, and a LayerNorm on each stage's output. The
backbone returns five maps: the patch embedding itself (stride 4) and the four stage outputs
(strides 4, 8, 16, 32), channels first.

Facts that decide the numbers, all as the released network computes them:

- a block pads its tokens (after the first LayerNorm, with zeros) on the right and bottom to
  whole windows, and crops them after attention; the shifted blocks roll by half a window;
- the shifted-window mask is built per stage over the padded size from the usual nine
  regions, and masked pairs get -100 added (not -inf);
- the shift is half a window even when a map is smaller than one window;
- queries are scaled by ``head_dim ** -0.5`` before the product; each head adds its
  relative-position bias (a table of ``(2w - 1)^2`` rows per head);
- GELU is the exact (erf) one; no dropout or stochastic depth at inference.

Module names follow the released key layout (``layers.2.blocks.17.attn.qkv.weight``,
``norm3.bias``, …), so a state dict loads as it is. The relative-position index is computed
here, not read (the files carry it as a buffer; ``load`` checks it matches).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SwinConfig:
    """Widths of the backbone; SwinB (InSPyReNet's) is ``SwinConfig()``."""

    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    heads: tuple[int, ...] = (4, 8, 16, 32)
    window: int = 12
    patch: int = 4
    mlp_ratio: float = 4.0

    def width(self, stage: int) -> int:
        return self.embed_dim * 2 ** stage

    @property
    def out_channels(self) -> tuple[int, ...]:
        """Channels of the five maps the backbone returns."""
        return (self.embed_dim,) + tuple(self.width(i) for i in range(len(self.depths)))


def relative_index(window: int) -> torch.Tensor:
    """For every pair of tokens (p, q) in a window, the row of the bias table: the offset
    ``p - q`` in rows and columns, each moved to ``0 .. 2w-2``, read row-major."""
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    d_row = rows[:, None] - rows[None, :] + window - 1
    d_col = cols[:, None] - cols[None, :] + window - 1
    return d_row * (2 * window - 1) + d_col


def to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, H, W, C] (H, W whole windows) → [B * windows, window², C], windows row-major."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def from_windows(x: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`to_windows`."""
    c = x.shape[-1]
    x = x.reshape(-1, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def shift_mask(hp: int, wp: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """[windows, window², window²]: 0 where two tokens of a rolled window came from the same
    region of the padded map, -100 where they did not. The regions split each axis at
    ``size - window`` and ``size - shift``."""
    def labels(size: int) -> torch.Tensor:
        pos = torch.arange(size, device=device)
        return (pos >= size - window).long() + (pos >= size - shift).long()

    region = (labels(hp)[:, None] * 3 + labels(wp)[None, :]).float()
    tokens = to_windows(region[None, :, :, None], window).squeeze(-1)
    differs = tokens[:, None, :] != tokens[:, :, None]
    return torch.zeros(differs.shape, device=device).masked_fill(differs, -100.0)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads = heads
        self.window = window
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_index(window), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n_win, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(n_win, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        scores = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        scores = scores + bias.reshape(tokens, tokens, -1).permute(2, 0, 1)[None]
        if mask is not None:
            per_image = mask.shape[0]
            scores = scores.reshape(-1, per_image, self.heads, tokens, tokens) + mask[None, :, None]
            scores = scores.reshape(-1, self.heads, tokens, tokens)
        out = scores.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(n_win, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int, mask: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        win = self.window
        y = self.norm1(x).reshape(b, h, w, c)
        y = F.pad(y, (0, 0, 0, (win - w % win) % win, 0, (win - h % win) % win))
        hp, wp = y.shape[1], y.shape[2]
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = from_windows(self.attn(to_windows(y, win), mask if self.shift else None), win, hp, wp)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y[:, :h, :w, :].reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated (even/even, odd/even, even/odd, odd/odd rows/columns),
    normalised, projected to twice the width; odd sizes padded with a zero row/column."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        x = F.pad(x.reshape(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.reshape(b, -1, 4 * c)))


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float, merge: bool):
        super().__init__()
        self.window, self.shift = window, window // 2
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio) for i in range(depth))
        self.downsample = PatchMerging(dim) if merge else None

    def forward(self, x: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        win = self.window
        mask = shift_mask(-(-h // win) * win, -(-w // win) * win, win, self.shift, x.device).to(x.dtype)
        for block in self.blocks:
            x = block(x, h, w, mask)
        return x, (self.downsample(x, h, w) if self.downsample is not None else None)


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        x = F.pad(x, (0, (p - x.shape[-1] % p) % p, 0, (p - x.shape[-2] % p) % p))
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()


class SwinBackbone(nn.Module):
    """[B, 3, H, W] → five maps [B, C_i, H_i, W_i] (see the module docstring), contiguous
    (channels-last strides would change the convolutions' summation order downstream)."""

    def __init__(self, cfg: SwinConfig = SwinConfig()):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch, cfg.embed_dim)
        last = len(cfg.depths) - 1
        self.layers = nn.ModuleList(
            SwinStage(cfg.width(i), d, cfg.heads[i], cfg.window, cfg.mlp_ratio, i < last)
            for i, d in enumerate(cfg.depths))
        for i in range(len(cfg.depths)):
            self.add_module(f"norm{i}", nn.LayerNorm(cfg.width(i)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(x)
        outs = [x]
        b, _, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        for i, stage in enumerate(self.layers):
            out, merged = stage(tokens, h, w)
            out = getattr(self, f"norm{i}")(out)
            outs.append(out.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous())
            if merged is not None:
                tokens, h, w = merged, (h + 1) // 2, (w + 1) // 2
        return outs
