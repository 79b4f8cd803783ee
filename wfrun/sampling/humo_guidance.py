"""HuMo in the wrapper's WanVideoSampler (``nodes_sampler.py``, HuMoEmbeds' inputs): which
calls a step makes and how they combine, as the pack's ``predict_with_cfg``.

Set up once (:func:`prepare_humo`): the audio features made into one window per latent
frame of the video (:func:`wfrun.sampling.humo_audio.audio_windows`, the embeds' pixel frame
count), then a zero window per reference frame; the negative audio all zeros. The 17B (2L + 4
input channels) takes the embeds' image conditioning as its ``y``; the 1.7B (L) takes none,
its last R latent frames replaced by the references in the cond call and by zeros in the
others.

Each step (:func:`humo_predict`), with the audio on inside ``start_percent … end_percent``
(or from step 0 when the window starts there and ends after 0), calls ``model(latents, y,
prompt, audio)``:

- cond: the positive prompt, the audio;
- uncond (cfg ≠ 1): the *positive* prompt with the zero audio while the audio is on (the
  pack's HuMo uncond), else the negative prompt and no audio; then ``u + cfg (c - u)``
  through the sampler's CFG combiner;
- audio CFG ≠ 1, 17B (audio on): a third call with the negative prompt and zero audio, its
  ``y`` the negative image conditioning above timestep 980; ``u + a (c - n) + (cfg - 2)(n - u)``;
- audio CFG ≠ 1, 1.7B (audio on): two more, ``null`` (negative prompt, zero audio) and ``au``
  (positive prompt, the audio, latents as the uncond's): ``a (c - au) + cfg (au - u) +
  cfg (u - null) + null``.

Every call carries the embeds' ``audio_scale``. The output keeps the references' frames, as
the pack's sampler does (only its long-video loop cuts them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from wfrun.sampling.humo import HuMoEmbeds
from wfrun.sampling.humo_audio import audio_windows

#: Above this timestep the 17B's audio-free call takes the negative image conditioning.
NEG_IMAGE_ABOVE = 980.0


@dataclass(frozen=True)
class HuMoRun:
    """One sampling pass's HuMo inputs (on the device)."""

    audio: torch.Tensor            # [F + R, 8, 5, C]
    audio_neg: torch.Tensor        # zeros of that shape
    image_cond: torch.Tensor | None      # the 17B's y [20, F + R, h, w]
    image_cond_neg: torch.Tensor | None
    references: torch.Tensor | None     # the 1.7B's reference latents [16, R, h, w]
    scale: float
    audio_cfg: list[float]
    start: float
    end: float

    def audio_on(self, idx: int, pct: float) -> bool:
        return self.start <= pct <= self.end or (self.end > 0 and idx == 0 and pct >= self.start)


def prepare_humo(embeds: HuMoEmbeds, num_frames: int, in_channels: int, latent_channels: int, steps: int,
                 device: torch.device, dtype: torch.dtype) -> HuMoRun:
    windows = audio_windows(embeds.audio, num_frames)
    if embeds.references:
        windows = torch.cat([windows, windows.new_zeros(embeds.references, *windows.shape[1:])])
    windows = windows.to(device, dtype)
    wide = in_channels > latent_channels
    refs = None
    if not wide and embeds.references:
        refs = embeds.image_cond[4:, -embeds.references:].to(device, dtype)
    return HuMoRun(audio=windows, audio_neg=torch.zeros_like(windows),
                   image_cond=embeds.image_cond.to(device) if wide else None,
                   image_cond_neg=embeds.image_cond_neg.to(device) if wide else None,
                   references=refs, scale=float(embeds.audio_scale),
                   audio_cfg=[float(embeds.audio_cfg_scale)] * (steps + 1),
                   start=float(embeds.start_percent), end=float(embeds.end_percent))


#: ``model(latents [C, F, h, w], y or None, prompt, audio windows or None) -> prediction``.
Call = Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None], torch.Tensor]


def humo_predict(run: HuMoRun, call: Call, z: torch.Tensor, t: float, idx: int, pct: float, cfg: float,
                 positive: torch.Tensor, negative: Callable[[], torch.Tensor],
                 combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 needs_uncond: bool) -> torch.Tensor:
    """The step's guided prediction (see the module docs). ``combine(c, u)``: the sampler's CFG."""
    on = run.audio_on(idx, pct)
    audio, audio_neg = (run.audio, run.audio_neg) if on else (None, None)
    z_cond = z_rest = z
    if run.references is not None:
        n = run.references.shape[1]
        z_cond = torch.cat([z[:, :-n], run.references.to(z)], dim=1)
        z_rest = torch.cat([z[:, :-n], torch.zeros_like(run.references, dtype=z.dtype)], dim=1)
    y = run.image_cond
    c = call(z_cond, y, positive, audio)
    if not needs_uncond:
        return c
    u = call(z_rest, y, positive if on else negative(), audio_neg)
    a = run.audio_cfg[idx]
    if not math.isclose(a, 1.0) and on:
        if y is not None:
            y_neg = run.image_cond_neg if t > NEG_IMAGE_ABOVE else y
            n = call(z_rest, y_neg, negative(), audio_neg)
            return u + a * (c - n) + (cfg - 2.0) * (n - u)
        null = call(z_rest, None, negative(), audio_neg)
        au = call(z_rest, None, positive, audio)
        return a * (c - au) + cfg * (au - u) + cfg * (u - null) + null
    return combine(c, u)
