"""Separating a whole recording with Mel-Band RoFormer the way kijai's sampler node does it:
8-second chunks at half overlap, cross-faded and normalized by the summed window.

For a stereo waveform ``[2, samples]`` at 44.1 kHz (chunk ``C`` = 352,800 samples, step
``C/2``, fade ``C/10``):

- when the recording is longer than ``2 * (C - step)``, it is reflection-padded by
  ``C - step`` on each side first (and the pad cut off at the end), so the first and last
  real samples sit inside a chunk, not at a fade;
- a chunk starts every ``step`` samples; a short last chunk is reflection-padded to ``C`` when
  it holds more than ``C/2 + 1`` samples, else zero-padded;
- each chunk's estimate is weighted by a window that rises linearly over the first ``fade``
  samples and falls over the last ``fade`` (the first chunk keeps full weight at its start,
  a chunk reaching the end keeps it at its end), summed, and divided by the summed weights.

The model's inverse STFT returns ``hop * (C // hop)`` samples; ``C`` is a multiple of the hop
(441), so every chunk comes back whole.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

#: The pack's chunk length (8 s at 44.1 kHz) and overlap (two chunks cover every sample).
CHUNK = 352800
OVERLAP = 2


def fade_window(size: int, fade: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Ones with a linear ramp 0..1 over the first ``fade`` and 1..0 over the last ``fade``."""
    window = torch.ones(size, device=device)
    window[-fade:] *= torch.linspace(1, 0, fade, device=device)
    window[:fade] *= torch.linspace(0, 1, fade, device=device)
    return window


def separate(model: Callable[[torch.Tensor], torch.Tensor], audio: torch.Tensor, chunk: int = CHUNK,
             overlap: int = OVERLAP, progress: Callable[[int, int], None] | None = None,
             pad_length: int | None = None) -> torch.Tensor:
    """The model's stem for ``audio`` ``[channels, samples]`` (float32, on the model's device),
    chunked and cross-faded as the pack does; ``model`` maps ``[1, channels, chunk]`` to a stem
    of the same shape. ``progress(done, total)`` is called before the first chunk (``done``
    0) and after each.

    ``pad_length``: the length the reflection-padding decision compares (default: the
    audio's). The pack compares the length *before* resampling to 44.1 kHz, so its sampler
    passes that."""
    step = chunk // overlap
    fade = chunk // 10
    border = chunk - step
    length = audio.shape[-1] if pad_length is None else pad_length
    padded = length > 2 * border and border > 0 and audio.shape[-1] > border
    if padded:
        audio = F.pad(audio[None], (border, border), mode="reflect")[0]
    window = fade_window(chunk, fade, audio.device)
    total = audio.shape[-1]
    stem = torch.zeros_like(audio, dtype=torch.float32)
    weight = torch.zeros_like(audio, dtype=torch.float32)
    starts = range(0, total, step)
    if progress is not None:
        progress(0, len(starts))
    for done, start in enumerate(starts, 1):
        part = audio[:, start:start + chunk]
        size = part.shape[-1]
        if size < chunk:
            mode = "reflect" if size > chunk // 2 + 1 else "constant"
            part = F.pad(part[None], (0, chunk - size), mode=mode)[0]
        out = model(part[None])[0]
        w = window.clone()
        if start == 0:
            w[:fade] = 1
        elif start + chunk >= total:
            w[-fade:] = 1
        stem[..., start:start + size] += out[..., :size] * w[:size]
        weight[..., start:start + size] += w[:size]
        if progress is not None:
            progress(done, len(starts))
    stem = stem / weight
    if padded:
        stem = stem[..., border:-border]
    return stem
