"""TAEHV, madebyollin's tiny video autoencoder, as the WanVideoWrapper's tiny VAE loads it.

Why it exists: ``taew2_1`` / ``taew2_2`` encode and decode Wan 2.1 / 2.2 latents (already
in the wrapper's normalised latent space, images in 0..1) at a fraction of the real VAE's
cost; users pick it for previews and for cheap decodes of long videos.

The network is a plain stack of 2D layers run frame by frame, with four kinds of time
behaviour (written here from the architecture's description, not copied):

- ``MemBlock``: three 3x3 convs over the frame concatenated with the *previous* frame's
  input to the same block (zeros before the first frame), plus a skip, then ReLU: the only
  way information flows forward in time.
- ``TPool(stride)``: the encoder's temporal pooling, ``stride`` consecutive frames stacked
  along channels and mixed by a 1x1 conv into one frame.
- ``TGrow(stride)``: the decoder's temporal growth, a 1x1 conv to ``stride`` times the
  channels, split into ``stride`` consecutive frames.
- ``Clamp``: ``3 * tanh(x / 3)`` on the latents before decoding.

Time strides: the encoder pools by 2, 2, 1 (T frames -> T/4 latents; a T that is not a
multiple of 4 is padded at the end with copies of its last frame, so Wan's 4n+1 frames give
n+1 latents as the real VAE does); the decoder grows by 1, 2, 2 (T latents -> 4T frames)
and drops its first 3 frames (``frames_to_trim``), giving 4(T-1)+1 frames, again as Wan's
VAE does. Space: three stride-2 convs in the encoder, three 2x nearest upsamplings in the
decoder (8x); ``taew2_2`` (48 latent channels) adds a 2x2 pixel (un)shuffle around both
ends (16x), as the Wan 2.2 VAE does.

Key layout (``encoder.N...``/``decoder.N...``, N the index in each ``nn.Sequential``) is the
released files'. Widths are read from the file (the releases are 64 wide in the encoder and
256/128/64/64 in the decoder), so tiny test files of the same layout load too. A file whose
first TGrow was trained with stride 2 (``decoder.7.conv.weight`` twice as tall) keeps its
last frame's channels only, as the reference loader does.

``chunk`` runs time in pieces with each MemBlock's last frame carried over: the same numbers
as one pass (all ops are causal), in bounded memory — the pack's ``parallel=False``.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

#: Temporal strides of the encoder's TPools and the decoder's TGrows, in order.
ENCODER_TIME_STRIDES = (2, 2, 1)
DECODER_TIME_STRIDES = (1, 2, 2)


class TaehvError(ValueError):
    """A file that is not a TAEHV checkpoint (a key or a shape the layout lacks)."""


def conv3(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class Clamp(nn.Module):
    """Soft clamp of latents to about -3..3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class MemBlock(nn.Module):
    """Residual block that sees the current frame and the previous one (``past``)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.conv = nn.Sequential(conv3(n_in * 2, n_out), nn.ReLU(), conv3(n_out, n_out), nn.ReLU(),
                                  conv3(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(torch.cat([x, past], 1)) + self.skip(x))


class TPool(nn.Module):
    """``stride`` consecutive frames [N*T, C, H, W] -> one frame each [N*T/stride, C, H, W]."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels * stride, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, channels, height, width = x.shape
        return self.conv(x.reshape(frames // self.stride, self.stride * channels, height, width))


class TGrow(nn.Module):
    """Each frame [N*T, C, H, W] -> ``stride`` consecutive frames [N*T*stride, C, H, W]."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels, channels * stride, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, channels, height, width = x.shape
        return self.conv(x).reshape(frames * self.stride, channels, height, width)


def build_encoder(latent_channels: int, patch: int, width: int = 64) -> nn.Sequential:
    layers: list[nn.Module] = [conv3(3 * patch * patch, width), nn.ReLU()]
    for stride in ENCODER_TIME_STRIDES:
        layers += [TPool(width, stride), conv3(width, width, stride=2, bias=False),
                   MemBlock(width, width), MemBlock(width, width), MemBlock(width, width)]
    layers.append(conv3(width, latent_channels))
    return nn.Sequential(*layers)


def build_decoder(latent_channels: int, patch: int, widths: tuple[int, int, int, int] = (256, 128, 64, 64)
                  ) -> nn.Sequential:
    layers: list[nn.Module] = [Clamp(), conv3(latent_channels, widths[0]), nn.ReLU()]
    for stage, stride in enumerate(DECODER_TIME_STRIDES):
        n = widths[stage]
        layers += [MemBlock(n, n), MemBlock(n, n), MemBlock(n, n), nn.Upsample(scale_factor=2),
                   TGrow(n, stride), conv3(n, widths[stage + 1], bias=False)]
    layers += [nn.ReLU(), conv3(widths[3], 3 * patch * patch)]
    return nn.Sequential(*layers)


def run_causal(blocks: nn.Sequential, x: torch.Tensor, memory: dict[int, torch.Tensor]) -> torch.Tensor:
    """``blocks`` over ``x`` [N, T, C, H, W], all frames at once; ``memory`` holds each
    MemBlock's last input frame from the previous call (none: zeros) and is updated."""
    batch = x.shape[0]
    h = x.flatten(0, 1)
    for index, block in enumerate(blocks):
        if isinstance(block, MemBlock):
            frames = h.unflatten(0, (batch, -1))
            before = memory.get(index)
            if before is None:
                before = torch.zeros_like(frames[:, :1])
            past = torch.cat([before, frames[:, :-1]], 1)
            memory[index] = frames[:, -1:]
            h = block(h, past.flatten(0, 1))
        else:
            h = block(h)
    return h.unflatten(0, (batch, -1))


class TAEHV(nn.Module):
    """The tiny autoencoder; ``encode_video``/``decode_video`` take and give [N, T, C, H, W]."""

    def __init__(self, latent_channels: int = 16, encoder_width: int = 64,
                 decoder_widths: tuple[int, int, int, int] = (256, 128, 64, 64)):
        super().__init__()
        self.latent_channels = latent_channels
        self.patch = 2 if latent_channels == 48 else 1  # taew2_2 works on 2x2 pixel patches
        self.encoder = build_encoder(latent_channels, self.patch, encoder_width)
        self.decoder = build_decoder(latent_channels, self.patch, decoder_widths)
        self.t_downscale = _product(b.stride for b in self.encoder if isinstance(b, TPool))
        self.t_upscale = _product(b.stride for b in self.decoder if isinstance(b, TGrow))
        self.frames_to_trim = self.t_upscale - 1

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder[1].weight.dtype

    def _run(self, blocks: nn.Sequential, x: torch.Tensor, chunk: int | None,
             tick: Callable[[], None] | None) -> torch.Tensor:
        memory: dict[int, torch.Tensor] = {}
        step = x.shape[1] if not chunk else chunk
        out = []
        for start in range(0, x.shape[1], step):
            out.append(run_causal(blocks, x[:, start:start + step], memory))
            if tick is not None:
                tick()
        return torch.cat(out, 1)

    def encode_video(self, x: torch.Tensor, parallel: bool = True,
                     tick: Callable[[], None] | None = None) -> torch.Tensor:
        """RGB [N, T, 3, H, W] in 0..1 -> latents [N, ceil(T/4), C, H/8, W/8] (H/16 for taew2_2)."""
        if self.patch > 1:
            x = F.pixel_unshuffle(x.flatten(0, 1), self.patch).unflatten(0, x.shape[:2])
        extra = -x.shape[1] % self.t_downscale
        if extra:
            x = torch.cat([x, x[:, -1:].expand(-1, extra, -1, -1, -1)], 1)
        return self._run(self.encoder, x, None if parallel else self.t_downscale, tick)

    def decode_video(self, z: torch.Tensor, parallel: bool = True,
                     tick: Callable[[], None] | None = None) -> torch.Tensor:
        """Latents [N, T, C, h, w] -> RGB [N, 4(T-1)+1, 3, 8h, 8w] clamped to 0..1."""
        x = self._run(self.decoder, z, None if parallel else 1, tick)
        if self.patch > 1:
            x = F.pixel_shuffle(x.flatten(0, 1), self.patch).unflatten(0, x.shape[:2])
        return x[:, self.frames_to_trim:].clamp(0, 1)


def _product(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def taehv_from_state_dict(state: Mapping[str, torch.Tensor]) -> TAEHV:
    """A TAEHV built to the widths the state dict has, with its weights (fp32 until moved)."""
    try:
        latent = state["decoder.1.weight"].shape[1]
        enc_width = state["encoder.0.weight"].shape[0]
        widths = (state["decoder.1.weight"].shape[0], state["decoder.8.weight"].shape[0],
                  state["decoder.14.weight"].shape[0], state["decoder.20.weight"].shape[0])
    except KeyError as err:
        raise TaehvError(f"not a TAEHV (taew) checkpoint: no tensor {err.args[0]!r}") from None
    model = TAEHV(latent, enc_width, widths)
    state = dict(state)
    for index, block in enumerate(model.decoder):
        key = f"decoder.{index}.conv.weight"
        if isinstance(block, TGrow) and key in state and state[key].shape[0] > block.conv.weight.shape[0]:
            state[key] = state[key][-block.conv.weight.shape[0]:]  # trained at a larger stride: last frame
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise TaehvError(f"not a TAEHV (taew) checkpoint of the expected layout: {str(err).splitlines()[0]}"
                         ) from None
    return model.eval().requires_grad_(False)


def load_taehv(path, dtype: torch.dtype = torch.float16, device: str = "cpu") -> TAEHV:
    """Read a taew/taehv file (safetensors; pickles by the run's opt-in only)."""
    from wfrun.models.reader import open_checkpoint

    with open_checkpoint(path) as reader:
        state = dict(reader.iter_tensors())
    return taehv_from_state_dict(state).to(device=device, dtype=dtype)


def tiny_taehv_state_dict(latent_channels: int = 16, encoder_width: int = 8,
                          decoder_widths: tuple[int, int, int, int] = (16, 8, 8, 8), seed: int = 0,
                          first_grow_stride: int = 1) -> dict[str, torch.Tensor]:
    """Random weights in the released key layout, at small widths (the release's widths with
    ``encoder_width=64, decoder_widths=(256, 128, 64, 64)``). ``first_grow_stride=2`` writes
    ``decoder.7`` as the stride-2 files do. Scaled so activations stay near unit size."""
    gen = torch.Generator().manual_seed(seed)
    model = TAEHV(latent_channels, encoder_width, decoder_widths)
    state = {}
    for key, value in model.state_dict().items():
        shape = list(value.shape)
        if key == "decoder.7.conv.weight":
            shape[0] *= first_grow_stride
        fan_in = max(1, int(torch.tensor(shape[1:]).prod())) if len(shape) > 1 else 1
        scale = (2.0 / fan_in) ** 0.5 if len(shape) > 1 else 0.05
        state[key] = (torch.randn(shape, generator=gen) * scale).contiguous()
    return state
