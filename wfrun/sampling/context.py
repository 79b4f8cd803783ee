"""Context windows for long videos, as the pack's ``context_windows/context.py`` (2025-07).

The pack took these schedules from AnimateDiff-Evolved: WanVideoContextOptions sizes are
in pixel frames and the sampler turns them into latent frames
(``frames = (context_frames - 1)//4 + 1``, ``stride = context_stride//4``,
``overlap = context_overlap//4``). Each step predicts every window, multiplies each
prediction by a fuse mask and divides the sum by the summed masks.

- ``uniform_standard``: windows of ``frames`` every ``frames - overlap``, at strides
  1, 2, 4… (capped by ``ceil(log2(T/frames)) + 1``), offset each step by the bit-reversed
  step index (``ordered_halving``); windows wrapping past the end are slid back to end at
  the last frame, a window is inserted where a wrap left a gap, duplicates are dropped.
- ``uniform_looped``: the same windows, wrapping around (for looping videos).
- ``static_standard``: fixed windows every ``frames - overlap``, the last one moved back to
  end at the last frame.

ComfyUI core's context windows (``sampling.ksampler.context_windows``) use the same
schedules with two options the pack does not have: ``closed_loop`` False (window starts
stop ``overlap`` early) and ``batched`` (no overlap).

Fuse masks: ``linear`` ramps ``linspace(0, 1, overlap)`` in at the start of every window
but the first and out at the end of every window but the last (looped: also at the video's
ends); ``pyramid`` weights ``1..n/2..1`` normalised to 1, with the first/last window's
outer overlap raised by a ramp.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def ordered_halving(val: int) -> float:
    """The 64-bit bit-reversal of ``val`` as a fraction of 1 (0, .5, .25, .75, …)."""
    return int(f"{val:064b}"[::-1], 2) / (1 << 64)


def _strided_windows(step: int, num_frames: int, size: int, stride: int, overlap: int,
                     closed_loop: bool = True) -> list[list[int]]:
    stride = min(stride, int(np.ceil(np.log2(num_frames / size))) + 1)
    out = []
    for context_step in 1 << np.arange(stride):
        context_step = int(context_step)
        pad = int(round(num_frames * ordered_halving(step)))
        start = int(ordered_halving(step) * context_step) + pad
        stop = num_frames + pad + (0 if closed_loop else -overlap)
        for j in range(start, stop, size * context_step - overlap):
            out.append([e % num_frames for e in range(j, j + size * context_step, context_step)])
    return out


def uniform_looped(step: int, num_steps: int | None, num_frames: int, size: int, stride: int = 3,
                   overlap: int = 4, closed_loop: bool = True) -> list[list[int]]:
    """``closed_loop`` False: window starts stop ``overlap`` frames short of a full turn
    (ComfyUI core's ``closed_loop`` input; the pack always closes the loop)."""
    if num_frames <= size:
        return [list(range(num_frames))]
    return _strided_windows(step, num_frames, size, stride, overlap, closed_loop)


def _rolls_over(window: list[int], num_frames: int) -> int:
    prev = -1
    for i, v in enumerate(window):
        v %= num_frames
        if v < prev:
            return i
        prev = v
    return -1


def uniform_standard(step: int, num_steps: int | None, num_frames: int, size: int, stride: int = 3,
                     overlap: int = 4, closed_loop: bool = True) -> list[list[int]]:
    """``closed_loop`` False: window starts stop ``overlap`` frames short of a full turn
    before the wrapped windows are slid back (ComfyUI core's rule; the pack's is True)."""
    if num_frames <= size:
        return [list(range(num_frames))]
    windows = _strided_windows(step, num_frames, size, stride, overlap, closed_loop)
    drop = []
    i = 0
    while i < len(windows):
        roll = _rolls_over(windows[i], num_frames)
        if roll >= 0:
            roll_val = windows[i][roll]
            w = windows[i]
            first = w[0]
            w[:] = [((v - first) + num_frames) % num_frames for v in w]  # to the start…
            end_delta = num_frames - w[-1] - 1
            w[:] = [v + end_delta for v in w]  # …then slid to end at the last frame
            if roll_val not in windows[(i + 1) % len(windows)]:
                windows.insert(i + 1, list(range(roll_val, roll_val + size)))
        if any(windows[i] == windows[j] for j in range(i)):
            drop.append(i)
        i += 1
    for i in reversed(drop):
        windows.pop(i)
    return windows


def static_standard(step: int, num_steps: int | None, num_frames: int, size: int, stride: int = 3,
                    overlap: int = 4) -> list[list[int]]:
    if num_frames <= size:
        return [list(range(num_frames))]
    windows = []
    for start in range(0, num_frames, size - overlap):
        if start + size >= num_frames:
            start -= start + size - num_frames
            windows.append(list(range(start, start + size)))
            break
        windows.append(list(range(start, start + size)))
    return windows


def batched(step: int, num_steps: int | None, num_frames: int, size: int, stride: int = 3,
            overlap: int = 4) -> list[list[int]]:
    """Back-to-back windows of ``size`` with no overlap, the last one shorter when ``size``
    does not divide the frames (ComfyUI core's ``batched``; the pack has no such schedule)."""
    if num_frames <= size:
        return [list(range(num_frames))]
    return [list(range(start, min(start + size, num_frames))) for start in range(0, num_frames, size)]


SCHEDULES: dict[str, Callable[..., list[list[int]]]] = {
    "uniform_standard": uniform_standard,
    "uniform_looped": uniform_looped,
    "static_standard": static_standard,
}


def window_mask(pred: torch.Tensor, window: list[int], num_frames: int, overlap: int, looped: bool = False,
                method: str = "linear") -> torch.Tensor:
    """The fuse weights of one window's prediction ``[C, len(window), H, W]`` (pack semantics).

    One deviation: a window covering the whole video gets weight 1 everywhere. The pack's
    looped linear mask ramps it to 0 at both ends, and with nothing else covering those
    frames its division by the summed weights gives NaN there.
    """
    mask = torch.ones_like(pred)
    if len(set(window)) >= num_frames:
        return mask
    dev = pred.device
    if method == "pyramid":
        n = pred.shape[1]
        if n % 2 == 0:
            half = n // 2
            seq = list(range(1, half + 1)) + list(range(half, 0, -1))
        else:
            half = (n + 1) // 2
            seq = list(range(1, half)) + [half] + list(range(half - 1, 0, -1))
        top = max(seq)
        mask = torch.tensor([w / top for w in seq], device=dev, dtype=pred.dtype).view(1, -1, 1, 1).expand_as(mask).clone()
        if not looped and overlap > 0:
            if min(window) == 0:
                ramp = torch.linspace(0, 1, overlap, device=dev, dtype=pred.dtype).view(1, -1, 1, 1)
                mask[:, :overlap] = torch.maximum(mask[:, :overlap].clone(), ramp)
            if max(window) == num_frames - 1:
                ramp = torch.linspace(1, 0, overlap, device=dev, dtype=pred.dtype).view(1, -1, 1, 1)
                mask[:, -overlap:] = torch.maximum(mask[:, -overlap:].clone(), ramp)
        return mask
    if overlap > 0:
        if min(window) > 0 or (looped and max(window) == num_frames - 1):
            mask[:, :overlap] = torch.linspace(0, 1, overlap, device=dev, dtype=pred.dtype).view(1, -1, 1, 1)
        if max(window) < num_frames - 1 or (looped and min(window) == 0):
            mask[:, -overlap:] = torch.linspace(1, 0, overlap, device=dev, dtype=pred.dtype).view(1, -1, 1, 1)
    return mask


def freenoise_shuffle(noise: torch.Tensor, size: int, overlap: int, generator: torch.Generator) -> torch.Tensor:
    """FreeNoise as the pack applies it: beyond each window, frames repeat a shuffled copy of
    the previous window's first ``size - overlap`` frames (in place on ``noise [C, T, H, W]``)."""
    total = noise.shape[1]
    delta = size - overlap
    if delta <= 0:
        return noise
    for start in range(0, total - size, delta):
        place = start + size
        if place >= total:
            break
        end = place - 1
        if end + delta >= total:
            final = total - place
            idx = torch.arange(start, start + final, dtype=torch.long)[torch.randperm(final, generator=generator)]
            noise[:, place:place + final] = noise[:, idx]
            break
        idx = torch.arange(start, start + delta, dtype=torch.long)[torch.randperm(delta, generator=generator)]
        noise[:, place:place + delta] = noise[:, idx]
    return noise


class WindowTracker:
    """Stable ids for windows (by their frames), so TeaCache keeps one state per window."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, ...], int] = {}
        self.cache_states: dict[int, list] = {}

    def window_id(self, frames: list[int]) -> int:
        return self.ids.setdefault(tuple(sorted(frames)), len(self.ids))
