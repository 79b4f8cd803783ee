"""Hybrid Demucs (Défossez 2021, "Hybrid Spectrogram and Waveform Source Separation") in
the layout of torchaudio's ``HDemucs``, whose pretrained ``HDEMUCS_HIGH_MUSDB_PLUS`` bundle
christian-byrne's AudioSeparation node runs.

Two U-Nets share a bottleneck. The spectral one reads the mixture's STFT (real and imaginary
parts as channels, the Nyquist bin dropped) and convolves along frequency only, dividing the
bins by ``stride`` per layer until one bin is left; the temporal one reads the waveform and
divides time by ``stride`` per layer. Where the spectral branch reaches one bin the temporal
encoder is a bare convolution whose output is added into the spectral layer ("inject"), and
the remaining layers are one shared time-only stack. The decoders mirror this, and the
output is the sum of the spectral branch (inverse STFT of the predicted complex spectrum) and
the temporal branch, both de-normalised with the statistics of their inputs.

Each non-bare encoder layer is convolution, GELU, a residual ``DConv`` branch (dilated
convolutions, optionally a bidirectional LSTM and a local attention), a 1x1 (or context)
rewrite and a GLU; decoders add the skip, rewrite with GLU and upsample with a transposed
convolution. Module names follow torchaudio's so its state dict loads as it is; the code is
wfrun's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: The bundle's sources, in the order of the model's output.
SOURCES = ("drums", "bass", "other", "vocals")


@dataclass(frozen=True)
class HDemucsConfig:
    """The shape of a Hybrid Demucs; the defaults are ``hdemucs_high`` (the bundle's).

    ``*_starts`` are the first layer index that gets group norm / LSTM / attention."""

    sources: tuple[str, ...] = SOURCES
    audio_channels: int = 2
    channels: int = 48
    growth: int = 2
    nfft: int = 4096
    depth: int = 6
    freq_emb: float = 0.2
    emb_scale: float = 10.0
    kernel_size: int = 8
    time_stride: int = 2
    stride: int = 4
    context: int = 1
    context_enc: int = 0
    norm_starts: int = 4
    norm_groups: int = 4
    dconv_depth: int = 2
    dconv_comp: int = 4
    dconv_attn: int = 4
    dconv_lstm: int = 4
    heads: int = 4
    ndecay: int = 4


def _norm(groups: int, width: int, on: bool) -> nn.Module:
    return nn.GroupNorm(groups, width) if on else nn.Identity()


class LayerScale(nn.Module):
    """A learnt per-channel gain on a residual branch (``scale`` [channels])."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale[:, None]


class BiLSTM(nn.Module):
    """A two-layer bidirectional LSTM over time, projected back to ``dim``, plus its input.

    Sequences longer than ``window`` steps are cut into windows of ``window`` steps every
    ``window // 2`` (the last one zero-padded), each run on its own; every window keeps only
    its middle half-hop-wide core (the first also its start, the last its end), which tile
    the sequence."""

    window = 200

    def __init__(self, dim: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size=dim, hidden_size=dim, num_layers=2, bidirectional=True)
        self.linear = nn.Linear(2 * dim, dim)

    def _run(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, T] -> [N, C, T]
        y, _ = self.lstm(x.permute(2, 0, 1))
        return self.linear(y).permute(1, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, width, steps = x.shape
        if steps <= self.window:
            return x + self._run(x)
        hop = self.window // 2
        count = math.ceil(steps / hop)
        padded = F.pad(x, (0, (count - 1) * hop + self.window - steps))
        windows = padded.unfold(-1, self.window, hop)  # [B, C, count, window]
        out = self._run(windows.permute(0, 2, 1, 3).reshape(batch * count, width, self.window))
        out = out.reshape(batch, count, width, self.window)
        margin = hop // 2
        pieces = [out[:, k, :, (margin if k else 0):(self.window - margin if k < count - 1 else self.window)]
                  for k in range(count)]
        return x + torch.cat(pieces, -1)[..., :steps]


class LocalAttention(nn.Module):
    """Attention over time with no positional code but a learnt, query-dependent penalty
    growing with the distance ``|t - s|`` (``ndecay`` slopes per head, mixed by a sigmoid of
    the query); a step never attends to itself. Residual."""

    def __init__(self, channels: int, heads: int, ndecay: int):
        super().__init__()
        self.heads, self.ndecay = heads, ndecay
        self.content = nn.Conv1d(channels, channels, 1)
        self.query = nn.Conv1d(channels, channels, 1)
        self.key = nn.Conv1d(channels, channels, 1)
        self.query_decay = nn.Conv1d(channels, heads * ndecay, 1)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, steps = x.shape
        h = self.heads
        q = self.query(x).view(batch, h, -1, steps)
        k = self.key(x).view(batch, h, -1, steps)
        # logits[b, h, key t, query s]
        logits = torch.einsum("bhct,bhcs->bhts", k, q) / math.sqrt(k.shape[2])
        if self.ndecay:
            pos = torch.arange(steps, device=x.device, dtype=x.dtype)
            distance = (pos[:, None] - pos[None, :]).abs()
            slopes = torch.arange(1, self.ndecay + 1, device=x.device, dtype=x.dtype) / math.sqrt(self.ndecay)
            mix = torch.sigmoid(self.query_decay(x).view(batch, h, self.ndecay, steps)) / 2
            # sum over slopes f of -slope_f * |t - s| * mix[b, h, f, s]
            logits = logits - distance[None, None] * torch.einsum("f,bhfs->bhs", slopes, mix)[:, :, None, :]
        eye = torch.eye(steps, device=x.device, dtype=torch.bool)
        logits = logits.masked_fill(eye, -100.0)
        weights = logits.softmax(dim=2)
        value = self.content(x).view(batch, h, -1, steps)
        mixed = torch.einsum("bhts,bhct->bhcs", weights, value).reshape(batch, -1, steps)
        return x + self.proj(mixed)


class DConv(nn.Module):
    """The residual branch inside encoder layers: ``depth`` steps, step ``d`` a dilated
    (2**d) kernel-3 convolution down to ``channels / compress``, group norm, GELU, optional
    LSTM then attention, a 1x1 convolution to twice the width, group norm, GLU and a layer
    scale, added to its input. Its norms are one-group norms whatever the layer's own."""

    def __init__(self, channels: int, compress: int, depth: int, lstm: bool, attn: bool, heads: int, ndecay: int):
        super().__init__()
        hidden = int(channels / compress)
        self.layers = nn.ModuleList()
        for d in range(depth):
            dilation = 2 ** d
            steps: list[nn.Module] = [nn.Conv1d(channels, hidden, 3, dilation=dilation, padding=dilation),
                                      nn.GroupNorm(1, hidden), nn.GELU()]
            if lstm:
                steps.append(BiLSTM(hidden))
            if attn:
                steps.append(LocalAttention(hidden, heads, ndecay))
            steps += [nn.Conv1d(hidden, 2 * channels, 1), nn.GroupNorm(1, 2 * channels), nn.GLU(1),
                      LayerScale(channels)]
            self.layers.append(nn.Sequential(*steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = x + layer(x)
        return x


class EncoderLayer(nn.Module):
    """A downsampling layer. ``freq``: 2-D convolutions striding over frequency only (input
    [B, C, F, T]); else 1-D over time (a 4-D input is flattened to [B, C*F, T]). ``bare``:
    the convolution alone (the temporal layer that feeds the branch merge)."""

    def __init__(self, chin: int, chout: int, *, kernel: int, stride: int, freq: bool, pad: bool, norm: bool,
                 groups: int, context: int, bare: bool = False, dconv: dict | None = None):
        super().__init__()
        self.freq, self.stride, self.bare = freq, stride, bare
        padding = kernel // 4 if pad else 0
        if freq:
            self.conv = nn.Conv2d(chin, chout, (kernel, 1), (stride, 1), (padding, 0))
        else:
            self.conv = nn.Conv1d(chin, chout, kernel, stride, padding)
        self.norm1 = _norm(groups, chout, norm)
        if not bare:
            conv = nn.Conv2d if freq else nn.Conv1d
            self.rewrite = conv(chout, 2 * chout, 1 + 2 * context, 1, context)
            self.norm2 = _norm(groups, 2 * chout, norm)
            self.dconv = DConv(chout, **(dconv or {}))

    def forward(self, x: torch.Tensor, inject: torch.Tensor | None = None) -> torch.Tensor:
        if not self.freq:
            if x.dim() == 4:
                x = x.reshape(x.shape[0], -1, x.shape[-1])
            extra = -x.shape[-1] % self.stride
            if extra:
                x = F.pad(x, (0, extra))
        y = self.conv(x)
        if self.bare:
            return y
        if inject is not None:
            if inject.shape[-1] != y.shape[-1]:
                raise ValueError(f"the temporal branch has {inject.shape[-1]} steps where the spectral has "
                                 f"{y.shape[-1]}")
            y = y + (inject[:, :, None] if inject.dim() == 3 and y.dim() == 4 else inject)
        y = F.gelu(self.norm1(y))
        if self.freq:
            b, c, f, t = y.shape
            y = self.dconv(y.permute(0, 2, 1, 3).reshape(b * f, c, t)).reshape(b, f, c, t).permute(0, 2, 1, 3)
        else:
            y = self.dconv(y)
        return F.glu(self.norm2(self.rewrite(y)), dim=1)


class DecoderLayer(nn.Module):
    """An upsampling layer: skip added, context rewrite + GLU (unless ``bare``), then a
    transposed convolution cropped by ``(kernel - stride) / 2`` each side (``pad``) and a GELU
    unless ``last``. Returns the output and the tensor before the transposed convolution
    (which feeds the temporal branch where the branches split)."""

    def __init__(self, chin: int, chout: int, *, kernel: int, stride: int, freq: bool, pad: bool, norm: bool,
                 groups: int, context: int, last: bool, bare: bool = False):
        super().__init__()
        self.freq, self.chin, self.last, self.bare = freq, chin, last, bare
        self.crop = (kernel - stride) // 2 if pad else 0
        if freq:
            self.conv_tr = nn.ConvTranspose2d(chin, chout, (kernel, 1), (stride, 1))
        else:
            self.conv_tr = nn.ConvTranspose1d(chin, chout, kernel, stride)
        self.norm2 = _norm(groups, chout, norm)
        if not bare:
            conv = nn.Conv2d if freq else nn.Conv1d
            self.rewrite = conv(chin, 2 * chin, 1 + 2 * context, 1, context)
            self.norm1 = _norm(groups, 2 * chin, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.freq and x.dim() == 3:
            x = x.reshape(x.shape[0], self.chin, -1, x.shape[-1])
        y = x if self.bare else F.glu(self.norm1(self.rewrite(x + skip)), dim=1)
        z = self.norm2(self.conv_tr(y))
        if self.freq:
            if self.crop:
                z = z[..., self.crop:-self.crop, :]
        else:
            z = z[..., self.crop:self.crop + length]
        if not self.last:
            z = F.gelu(z)
        return z, y


class FreqEmbedding(nn.Module):
    """A learnt per-bin embedding; the stored table is divided by ``scale`` (a learning-rate
    trick), so it is multiplied back when read."""

    def __init__(self, bins: int, width: int, scale: float):
        super().__init__()
        self.embedding = nn.Embedding(bins, width)
        self.scale = scale

    def forward(self, bins: torch.Tensor) -> torch.Tensor:
        return self.embedding(bins) * self.scale


class HDemucs(nn.Module):
    """``forward(mix [B, audio_channels, samples]) -> [B, sources, audio_channels, samples]``."""

    def __init__(self, config: HDemucsConfig = HDemucsConfig()):
        super().__init__()
        c = self.config = config
        self.sources = list(c.sources)
        self.hop = c.nfft // 4
        self.freq_encoder, self.freq_decoder = nn.ModuleList(), nn.ModuleList()
        self.time_encoder, self.time_decoder = nn.ModuleList(), nn.ModuleList()
        self.freq_emb = None
        chin, chin_z = c.audio_channels, 2 * c.audio_channels
        chout = chout_z = c.channels
        bins = c.nfft // 2
        for index in range(c.depth):
            norm = index >= c.norm_starts
            dconv = dict(compress=c.dconv_comp, depth=c.dconv_depth, lstm=index >= c.dconv_lstm,
                         attn=index >= c.dconv_attn, heads=c.heads, ndecay=c.ndecay)
            freq = bins > 1
            kernel, stride, pad, merge = c.kernel_size, c.stride, True, False
            if not freq:
                kernel, stride = 2 * c.time_stride, c.time_stride
            elif bins <= c.kernel_size:  # the last spectral layer: one kernel over all bins
                kernel, pad, merge = bins, False, True
            common = dict(freq=freq, norm=norm, groups=c.norm_groups)
            self.freq_encoder.append(EncoderLayer(chin_z, chout_z, kernel=kernel, stride=stride, pad=pad,
                                                  context=c.context_enc, dconv=dconv, **common))
            if freq:
                self.time_encoder.append(EncoderLayer(
                    chin, chout, kernel=c.kernel_size, stride=c.stride, pad=True, freq=False, norm=norm,
                    groups=c.norm_groups, context=c.context_enc, bare=merge, dconv=dconv))
            if index == 0:  # decoders of the first layer give every source's channels
                chin = c.audio_channels * len(c.sources)
                chin_z = 2 * chin
            self.freq_decoder.insert(0, DecoderLayer(chout_z, chin_z, kernel=kernel, stride=stride, pad=pad,
                                                     context=c.context, last=index == 0, **common))
            if freq:
                self.time_decoder.insert(0, DecoderLayer(
                    chout, chin, kernel=c.kernel_size, stride=c.stride, pad=True, freq=False, norm=norm,
                    groups=c.norm_groups, context=c.context, last=index == 0, bare=merge))
            chin, chin_z = chout, chout_z
            chout, chout_z = int(c.growth * chout), int(c.growth * chout_z)
            if freq:
                bins = 1 if bins <= c.kernel_size else bins // c.stride
            if index == 0 and c.freq_emb:
                self.freq_emb = FreqEmbedding(bins, chin_z, c.emb_scale)

    # ----------------------------------------------------------------- spectrograms

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        """[..., samples] -> complex [..., nfft/2 bins, ceil(samples/hop) frames], framed so
        that frame i is centred on sample i*hop + hop/2 (the input reflect-padded by 1.5 hops
        plus the rest of the last hop, two frames dropped each side)."""
        hop, n = self.hop, x.shape[-1]
        frames = math.ceil(n / hop)
        left = hop // 2 * 3
        right = left + frames * hop - n
        if n <= max(left, right):  # reflect padding needs more samples than it pads
            x = F.pad(x, (0, max(left, right) - n + 1))
        x = F.pad(x, (left, right), mode="reflect")
        lead = x.shape[:-1]
        z = torch.stft(x.reshape(-1, x.shape[-1]), self.config.nfft, hop, window=torch.hann_window(
            self.config.nfft, device=x.device, dtype=x.dtype), normalized=True, center=True,
            pad_mode="reflect", return_complex=True)
        z = z.reshape(*lead, *z.shape[-2:])
        return z[..., :-1, 2:2 + frames]

    def _istft(self, z: torch.Tensor, length: int) -> torch.Tensor:
        hop = self.hop
        z = F.pad(F.pad(z, (0, 0, 0, 1)), (2, 2))
        pad = hop // 2 * 3
        total = hop * math.ceil(length / hop) + 2 * pad
        lead = z.shape[:-2]
        nfft = 2 * z.shape[-2] - 2
        x = torch.istft(z.reshape(-1, *z.shape[-2:]), nfft, hop, window=torch.hann_window(
            nfft, device=z.device, dtype=z.real.dtype), normalized=True, center=True, length=total)
        return x.reshape(*lead, -1)[..., pad:pad + length]

    # ---------------------------------------------------------------------- forward

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        c = self.config
        if mix.ndim != 3 or mix.shape[1] != c.audio_channels:
            raise ValueError(f"expected [batch, {c.audio_channels}, samples], got {list(mix.shape)}")
        length = mix.shape[-1]
        spec = self._stft(mix)
        b, ch, bins, frames = spec.shape
        x = torch.view_as_real(spec).permute(0, 1, 4, 2, 3).reshape(b, 2 * ch, bins, frames)
        mean, std = x.mean(dim=(1, 2, 3), keepdim=True), x.std(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) / (1e-5 + std)
        meant, stdt = mix.mean(dim=(1, 2), keepdim=True), mix.std(dim=(1, 2), keepdim=True)
        xt = (mix - meant) / (1e-5 + stdt)

        skips, skips_t, lengths, lengths_t = [], [], [], []
        for index, encode in enumerate(self.freq_encoder):
            lengths.append(x.shape[-1])
            inject = None
            if index < len(self.time_encoder):
                lengths_t.append(xt.shape[-1])
                tenc = self.time_encoder[index]
                xt = tenc(xt)
                if tenc.bare:
                    inject = xt
                else:
                    skips_t.append(xt)
            x = encode(x, inject)
            if index == 0 and self.freq_emb is not None:
                table = self.freq_emb(torch.arange(x.shape[-2], device=x.device))  # [bins, width]
                x = x + c.freq_emb * table.t()[None, :, :, None]
            skips.append(x)

        x = torch.zeros_like(x)
        xt = x
        first_t = c.depth - len(self.time_decoder)
        for index, decode in enumerate(self.freq_decoder):
            x, pre = decode(x, skips.pop(), lengths.pop())
            if index >= first_t:
                tdec = self.time_decoder[index - first_t]
                if tdec.bare:  # the branches split: the temporal one starts from the shared layer
                    xt, _ = tdec(pre[:, :, 0], None, lengths_t.pop())
                else:
                    xt, _ = tdec(xt, skips_t.pop(), lengths_t.pop())

        count = len(c.sources)
        x = x.view(b, count, -1, bins, frames) * std[:, None] + mean[:, None]
        # channels are (audio channel, real/imaginary) pairs
        parts = x.view(b, count, -1, 2, bins, frames).permute(0, 1, 2, 4, 5, 3).contiguous()
        x = self._istft(torch.view_as_complex(parts), length)
        xt = xt.view(b, count, -1, length) * stdt[:, None] + meant[:, None]
        return xt + x
