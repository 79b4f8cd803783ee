"""Running a separation model over a long recording the way the AudioSeparation node does
(the chunking of torchaudio's Hybrid Demucs tutorial, which the node took over).

With ``rate`` samples per second, ``segment`` seconds and ``overlap`` seconds of overlap:
a chunk is ``C = int(rate * segment * (1 + overlap))`` samples and the overlap is
``V = overlap * rate`` samples. The first chunk covers ``[0, C)``; the second starts
``int(C - V)`` samples in and every later one ``C`` samples after the previous, each ending
``C`` samples after the previous end, so consecutive chunks share ``V`` samples (all but the
first are ``C + V`` long). Chunks are taken while their start is before ``length - V``.

Each chunk's output is multiplied by a fade (torchaudio's ``Fade``: a rise over the first
``fade_in`` samples, a fall over the last ``fade_out``, each of the chosen shape) and added in
place. The first chunk has no rise; later ones rise over ``int(V)``; every chunk falls over
``int(V)`` except those taken after a chunk's end has reached the recording's end. So the
first chunk of a recording shorter than ``C`` still falls to zero at its end, and nothing is
separated of a recording of ``V`` samples or fewer: the node's output is then silence. With
the ``linear`` and ``half_sine`` shapes a rise and a fall sum to one over the shared
samples; ``logarithmic`` and ``exponential`` do not (the node's output is louder or softer
there), as in the node.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

#: The node's fade shapes (torchaudio's ``Fade`` also has ``quarter_sine``, which it does not offer).
FADE_SHAPES = ("linear", "half_sine", "logarithmic", "exponential")


def _rise(t: torch.Tensor, shape: str) -> torch.Tensor:
    """The fade-in curve at ``t`` in 0..1, as torchaudio's ``Fade`` draws it."""
    if shape == "linear":
        return t
    if shape == "half_sine":
        return torch.sin(t * math.pi - math.pi / 2) / 2 + 0.5
    if shape == "logarithmic":
        return torch.log10(0.1 + t) + 1
    if shape == "exponential":
        return torch.pow(2, t - 1) * t
    raise ValueError(f"unknown fade shape {shape!r}")


def _fall(t: torch.Tensor, shape: str) -> torch.Tensor:
    """The fade-out curve at ``t`` in 0..1 (not simply the rise reversed for every shape)."""
    if shape == "linear":
        return 1 - t
    if shape == "half_sine":
        return torch.sin(t * math.pi + math.pi / 2) / 2 + 0.5
    if shape == "logarithmic":
        return torch.log10(1.1 - t) + 1
    if shape == "exponential":
        return torch.pow(2, -t) * (1 - t)
    raise ValueError(f"unknown fade shape {shape!r}")


def fade(length: int, fade_in: int, fade_out: int, shape: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """The gain ``[length]`` torchaudio's ``Fade(fade_in, fade_out, shape)`` applies."""
    rise = torch.cat((_rise(torch.linspace(0, 1, fade_in, device=device), shape),
                      torch.ones(length - fade_in, device=device))).clamp(0, 1)
    fall = torch.cat((torch.ones(length - fade_out, device=device),
                      _fall(torch.linspace(0, 1, fade_out, device=device), shape))).clamp(0, 1)
    return rise * fall


def chunk_plan(length: int, rate: int, segment: float, overlap: float) -> list[tuple[int, int, int, int]]:
    """``(start, end, fade_in, fade_out)`` of every chunk (``end`` may pass ``length``)."""
    chunk = int(rate * segment * (1 + overlap))
    shared = overlap * rate
    if chunk <= 0 or int(chunk - shared) <= 0 or shared < 0:
        raise ValueError(f"chunks of {chunk} samples with {shared:g} shared never advance")
    plan = []
    start, end, fade_in, fade_out = 0, chunk, 0, int(shared)
    while start < length - shared:
        plan.append((start, end, fade_in, fade_out))
        if start == 0:
            fade_in = int(shared)
            start += int(chunk - shared)
        else:
            start += chunk
        end += chunk
        if end >= length:
            fade_out = 0
    return plan


def separate_chunks(model: Callable[[torch.Tensor], torch.Tensor], mix: torch.Tensor, sources: int, rate: int,
                    segment: float, overlap: float, shape: str,
                    progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """``model`` ([B, C, n] -> [B, sources, C, n]) over ``mix`` [B, C, length] in faded,
    overlapping chunks, summed: [B, sources, C, length]. ``progress(done, total)`` is called
    before the first chunk (``done`` 0) and after each."""
    batch, channels, length = mix.shape
    plan = chunk_plan(length, rate, segment, overlap)
    out = torch.zeros(batch, sources, channels, length, device=mix.device, dtype=mix.dtype)
    if progress is not None:
        progress(0, len(plan))
    for done, (start, end, fade_in, fade_out) in enumerate(plan, 1):
        piece = model(mix[:, :, start:end])
        out[:, :, :, start:end] += piece * fade(piece.shape[-1], fade_in, fade_out, shape, piece.device)
        if progress is not None:
            progress(done, len(plan))
    return out
