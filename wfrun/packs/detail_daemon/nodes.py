"""DetailDaemonSamplerNode and MultiplySigmas (Jonseed/ComfyUI-Detail-Daemon).

Detail Daemon (after muerrilla's sd-webui-detail-daemon) keeps the sampler's steps and
sigmas but tells the model a *lower* sigma at each step, so it removes less noise than it
is given and leaves more detail. As the pack:

- a schedule of one multiplier per step (:func:`detail_schedule`): 0 up to ``start``,
  rising to ``detail_amount`` at ``start + bias * (end - start)`` and falling back to 0 at
  ``end`` (index ``round(x * (steps - 1))`` of each), each ramp optionally smoothed by
  ``(1 - cos(pi v)) / 2`` and raised to ``exponent``, shifted to ``start_offset`` /
  ``end_offset`` outside the ramps, everything times ``1 - fade``;
- for a model call at ``sigma`` (inside the run's sigma range), the schedule at that sigma
  (the step's value on a step sigma; linear between two neighbours otherwise, for the
  sub-steps of multi-stage samplers) times 0.1 gives ``d``, and the model is called at
  ``sigma * max(1e-6, 1 - d * cfg)``, with ``cfg`` = ``cfg_scale_override`` when above 0,
  else the sampler node's CFG.

The model call here is the guided denoiser the sampler calls; with a latent noise mask
ComfyUI's inpainting wrapper sits inside Detail Daemon's, here outside it (the masked-out
area is put back at the step's true sigma rather than the lowered one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.ksampler.wrapped import Denoiser, SamplerWrapper


def detail_schedule(steps: int, start: float, end: float, bias: float, amount: float, exponent: float,
                    start_offset: float, end_offset: float, fade: float, smooth: bool) -> np.ndarray:
    """One multiplier per step (see the module docstring)."""
    start = min(start, end)
    mid = start + bias * (end - start)
    first, middle, last = (int(round(x * (steps - 1))) for x in (start, mid, end))
    out = np.zeros(steps)
    rise = np.linspace(0, 1, middle - first + 1)
    fall = np.linspace(1, 0, last - middle + 1)
    ramps = []
    for ramp, offset in ((rise, start_offset), (fall, end_offset)):
        if smooth:
            ramp = 0.5 * (1 - np.cos(ramp * np.pi))
        ramp = ramp ** exponent
        if ramp.any():
            ramp = ramp * (amount - offset) + offset
        ramps.append(ramp)
    out[first:middle + 1] = ramps[0]
    out[middle:last + 1] = ramps[1]
    out[:first] = start_offset
    out[last + 1:] = end_offset
    return out * (1 - fade)


def schedule_at(sigma: float, sigmas: torch.Tensor, schedule: torch.Tensor) -> float:
    """The schedule's value at ``sigma``: exact on a step sigma, else between its neighbours."""
    n = len(schedule)
    if n < 2 or len(sigmas) < 2 or sigma <= 0 or not float(sigmas[-1]) <= sigma <= float(sigmas[0]):
        return 0.0
    deltas = (sigmas[:-1] - sigma).abs()
    idx = int(deltas.argmin())
    if (idx == 0 and sigma >= float(sigmas[0])) or (idx == n - 1 and sigma <= float(sigmas[-2])) or deltas[idx] == 0:
        return float(schedule[idx])
    low, high = (idx, idx - 1) if sigma > float(sigmas[idx]) else (idx + 1, idx)
    lo, hi = float(sigmas[low]), float(sigmas[high])
    if hi == lo:
        return float(schedule[low])
    ratio = min(max((sigma - lo) / (hi - lo), 0.0), 1.0)
    return float(schedule[low] + (schedule[high] - schedule[low]) * ratio)


@dataclass(frozen=True)
class DetailDaemonSampler(SamplerWrapper):
    """The SAMPLER DetailDaemonSamplerNode returns: ``inner`` with the model told lower sigmas."""

    inner: Any
    settings: tuple  # detail_schedule's arguments after ``steps``
    cfg_scale_override: float

    def wrap(self, denoiser: Denoiser, sigmas: torch.Tensor, cfg: float) -> Denoiser:
        scale = self.cfg_scale_override if self.cfg_scale_override > 0 else float(cfg)
        run = sigmas.detach().float().cpu()
        schedule = torch.tensor(detail_schedule(len(run) - 1, *self.settings), dtype=torch.float32)
        top, bottom = float(run[0]), float(run[-1]) + 1e-5

        def lowered(x: torch.Tensor, sigma: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            value = float(sigma.max())
            if not bottom <= value <= top:
                return denoiser(x, sigma, *args, **kwargs)
            d = schedule_at(value, run, schedule) * 0.1
            return denoiser(x, sigma * max(1e-6, 1.0 - d * scale), *args, **kwargs)

        lowered.ms = getattr(denoiser, "ms", None)  # for a LyingSigmaSampler around this one
        return lowered


@executor("DetailDaemonSamplerNode")
def detail_daemon_sampler(ctx: ExecContext, sampler: Any, detail_amount: float, start: float, end: float,
                          bias: float, exponent: float, start_offset: float, end_offset: float, fade: float,
                          smooth: bool, cfg_scale_override: Any, **_: Any) -> tuple:
    if sampler is None:
        raise NodeInputError("sampler", "no SAMPLER connected", "connect a KSamplerSelect")
    if isinstance(cfg_scale_override, bool) or not isinstance(cfg_scale_override, (int, float)):
        raise NodeInputError("cfg_scale_override", f"expected a number, found {cfg_scale_override!r}")
    settings = (float(start), float(end), float(bias), float(detail_amount), float(exponent), float(start_offset),
                float(end_offset), float(fade), bool(smooth))
    return (DetailDaemonSampler(sampler, settings, float(cfg_scale_override)),)


@executor("MultiplySigmas")
def multiply_sigmas(ctx: ExecContext, sigmas: Any, factor: float, **_: Any) -> tuple:
    if not isinstance(sigmas, torch.Tensor):
        raise NodeInputError("sigmas", f"expected SIGMAS, found {type(sigmas).__name__}")
    return (sigmas.clone() * float(factor),)
