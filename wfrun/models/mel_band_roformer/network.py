"""Mel-Band RoFormer (Wang et al. 2023; lucidrains' BS-RoFormer code, MIT, as vendored in kijai's
ComfyUI-MelBandRoFormer for Kimberley Jensen's vocal model): a mask estimator on the STFT.

One pass of :class:`MelBandRoformer` on a stereo waveform ``[batch, 2, samples]``:

1. STFT of each channel (Hann window, centered with reflection, not normalized); the two
   channels are interleaved along the frequency axis (bin ``f`` of channel ``s`` at row
   ``2 f + s``);
2. each mel band gathers its bins (both channels, real and imaginary parts), normalizes them
   (RMSNorm) and projects them to ``dim`` features: a token per band and frame;
3. ``depth`` rounds of a transformer along time (each band's frames) and one along frequency
   (each frame's bands); pre-norm attention with a per-head sigmoid gate, rotary position
   embeddings on queries and keys (interleaved pairs), a GELU feed-forward, and an output
   RMSNorm closing every transformer;
4. each band's token goes through a tanh MLP and a GLU to a complex mask over its bins;
   where bands overlap the masks are averaged;
5. the mixture's STFT times the mask, then the inverse STFT: the separated stem.

Module and parameter names follow the pack's model, so a state dict of the released files
loads as is (``layers.0.0.layers.0.0.to_qkv.weight``, ``band_split.to_features.3.1.weight``,
``mask_estimators.0.to_freqs.3.0.4.weight``; each attention carries its axis' shared
``rotary_embed.freqs``). Dropout is left out: the model only ever runs in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.mel_band_roformer.filterbank import band_membership


@dataclass(frozen=True)
class MelBandConfig:
    """The shape of a Mel-Band RoFormer; the defaults are the values the pack's loader fixes."""

    dim: int = 384
    depth: int = 6
    heads: int = 8
    dim_head: int = 64
    time_depth: int = 1
    freq_depth: int = 1
    num_bands: int = 60
    mask_depth: int = 2
    num_stems: int = 1
    stereo: bool = True
    ff_mult: int = 4
    mask_expansion: int = 4
    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 441
    win_length: int = 2048

    @property
    def channels(self) -> int:
        return 2 if self.stereo else 1


class RMSNorm(nn.Module):
    """``x / max(||x||, 1e-12) * sqrt(dim) * gamma`` (an L2 normalization, not an eps under
    the mean square: silent bands still come out unit-scaled)."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class Rotary(nn.Module):
    """Rotary embedding over the second-to-last axis, rotating interleaved pairs
    ``(x[2i], x[2i+1])`` by ``position * freqs[i]``; ``freqs`` is stored (not learned) so the
    file's values are the ones used."""

    def __init__(self, dim_head: int, theta: float = 10000.0):
        super().__init__()
        freqs = 1.0 / theta ** (torch.arange(0, dim_head, 2)[: dim_head // 2].float() / dim_head)
        self.freqs = nn.Parameter(freqs, requires_grad=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(t.shape[-2], device=t.device, dtype=self.freqs.dtype)
        angles = (positions[:, None] * self.freqs[None, :]).repeat_interleave(2, dim=-1)
        pairs = t.unflatten(-1, (-1, 2))
        turned = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return (t * angles.cos() + turned * angles.sin()).to(t.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, rotary: Rotary):
        super().__init__()
        self.heads = heads
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_gates = nn.Linear(dim, heads)
        self.to_out = nn.ModuleList([nn.Linear(heads * dim_head, dim, bias=False)])
        self.rotary_embed = rotary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k = self.rotary_embed(q), self.rotary_embed(k)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out * self.to_gates(x).transpose(1, 2).unsqueeze(-1).sigmoid()
        return self.to_out[0](out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """``net.0`` RMSNorm, ``net.1`` Linear, GELU, ``net.4`` Linear (2 and 3, 5 hold no weights)."""

    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.Sequential(RMSNorm(dim), nn.Linear(dim, dim * mult), nn.GELU(), nn.Identity(),
                                 nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, config: MelBandConfig, depth: int, rotary: Rotary):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(config.dim, config.heads, config.dim_head, rotary),
                           FeedForward(config.dim, config.ff_mult)]) for _ in range(depth))
        self.norm = RMSNorm(config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class BandSplit(nn.Module):
    def __init__(self, dim: int, band_inputs: tuple[int, ...]):
        super().__init__()
        self.band_inputs = band_inputs
        self.to_features = nn.ModuleList(nn.Sequential(RMSNorm(n), nn.Linear(n, dim)) for n in band_inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.band_inputs, dim=-1)
        return torch.stack([net(part) for part, net in zip(parts, self.to_features)], dim=-2)


def _mlp(dim_in: int, dim_out: int, hidden: int, depth: int) -> nn.Sequential:
    """Linear layers ``dim_in -> hidden (x depth) -> dim_out`` with tanh between them."""
    dims = (dim_in, *(hidden,) * depth, dim_out)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class MaskEstimator(nn.Module):
    def __init__(self, dim: int, band_inputs: tuple[int, ...], depth: int, expansion: int):
        super().__init__()
        self.to_freqs = nn.ModuleList(
            nn.Sequential(_mlp(dim, n * 2, dim * expansion, depth), nn.GLU(dim=-1)) for n in band_inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([net(band) for band, net in zip(x.unbind(dim=-2), self.to_freqs)], dim=-1)


class MelBandRoformer(nn.Module):
    def __init__(self, config: MelBandConfig = MelBandConfig()):
        super().__init__()
        self.config = config
        time_rotary, freq_rotary = Rotary(config.dim_head), Rotary(config.dim_head)
        self.layers = nn.ModuleList(
            nn.ModuleList([Transformer(config, config.time_depth, time_rotary),
                           Transformer(config, config.freq_depth, freq_rotary)]) for _ in range(config.depth))
        # built on the CPU by name, so a model made on the meta device still has its layout
        member = band_membership(config.sample_rate, config.n_fft, config.num_bands)
        bins = torch.arange(member.shape[1], device="cpu").expand_as(member)[member]  # band after band
        rows = (bins[:, None] * config.channels + torch.arange(config.channels, device="cpu")).flatten()
        self.register_buffer("freq_indices", rows, persistent=False)
        self.register_buffer("num_bands_per_freq", member.sum(dim=0), persistent=False)
        band_inputs = tuple(2 * config.channels * int(n) for n in member.sum(dim=1))
        self.band_inputs = band_inputs
        self.band_split = BandSplit(config.dim, band_inputs)
        self.mask_estimators = nn.ModuleList(
            MaskEstimator(config.dim, band_inputs, config.mask_depth, config.mask_expansion)
            for _ in range(config.num_stems))

    def stft_kwargs(self, device: torch.device) -> dict:
        c = self.config
        return dict(n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length, normalized=False,
                    window=torch.hann_window(c.win_length, device=device))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[batch, channels, samples]`` -> ``[batch, channels, samples']`` (one stem) or
        ``[batch, stems, channels, samples']``; ``samples'`` is ``hop * (samples // hop)``, the
        inverse STFT's length without a target length, as in the pack."""
        c = self.config
        batch, channels, length = audio.shape
        if channels != c.channels:
            raise ValueError(f"the model takes {c.channels} channels, got {channels}")
        kwargs = self.stft_kwargs(audio.device)
        spec = torch.stft(audio.reshape(batch * channels, length), return_complex=True, **kwargs)
        bins, frames = spec.shape[-2:]
        spec = spec.view(batch, channels, bins, frames).transpose(1, 2).reshape(batch, bins * channels, frames)
        x = torch.view_as_real(spec[:, self.freq_indices])  # [b, rows, t, 2]
        x = x.permute(0, 2, 1, 3).reshape(batch, frames, -1)
        x = self.band_split(x)  # [b, t, bands, d]
        bands, dim = x.shape[-2:]
        for time_transformer, freq_transformer in self.layers:
            x = x.transpose(1, 2).reshape(batch * bands, frames, dim)
            x = time_transformer(x).view(batch, bands, frames, dim).transpose(1, 2)
            x = freq_transformer(x.reshape(batch * frames, bands, dim)).view(batch, frames, bands, dim)
        masks = torch.stack([estimator(x) for estimator in self.mask_estimators], dim=1)  # [b, n, t, rows*2]
        stems = masks.shape[1]
        masks = torch.view_as_complex(masks.view(batch, stems, frames, -1, 2).transpose(2, 3).contiguous().float())
        summed = torch.zeros(batch, stems, bins * channels, frames, dtype=masks.dtype, device=masks.device)
        summed.index_add_(2, self.freq_indices, masks)
        denom = self.num_bands_per_freq.repeat_interleave(channels).float().clamp(min=1e-8)[:, None]
        out = spec[:, None] * (summed / denom)
        out = out.view(batch, stems, bins, channels, frames).transpose(2, 3).reshape(-1, bins, frames)
        wave = torch.istft(out, return_complex=False, **kwargs)
        wave = wave.view(batch, stems, channels, -1)
        return wave[:, 0] if stems == 1 else wave
