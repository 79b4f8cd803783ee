"""Pusa's noise on the given frames (the wrapper's WanVideoAddPusaNoise, 2025-09 on, with its
``flowmatch_pusa`` scheduler): frames given as extra latents are not held at timestep 0 but
at ``t * multiplier``, re-noised at every early step, and stepped with their sigmas scaled by
the same multiplier — as the pack's sampler and ``FlowMatchSchedulerPusa`` do it:

- the multipliers: one per latent frame when the list has that many; otherwise the i-th
  value belongs to the i-th given frame (in the order the extra latents give them) and the
  other frames get 0;
- each step, frame by given frame in that order: the frame's timestep is multiplied; then,
  in the first ``noisy_steps`` steps (all with -1) and for a multiplier above 0, a fresh
  noise draw of the whole latent's shape comes from the sampler's generator and the frame
  becomes ``(1 - s) x + s n`` with ``s`` the sigma of the timestep nearest to the largest
  timestep of the row so far, times the multiplier; the model sees the re-noised frames;
- the step: per frame, the sigma of the nearest timestep and the next one (0 after the
  last), both times the multiplier on given frames, both 0 where the frame's timestep is 0;
  ``x + v (sigma_next - sigma)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


class PusaError(ValueError):
    """Multipliers that do not fit the given frames."""


@dataclass(frozen=True)
class PusaNoise:
    multipliers: torch.Tensor  # [latent frames] float32
    given: tuple[int, ...]     # the given frames, in the extra latents' order
    noisy_steps: int           # steps (from the first run) that re-noise the given frames


def pusa_noise(values: Sequence[float], noisy_steps: int, given: Sequence[int], latent_len: int,
               steps: int) -> PusaNoise:
    """The multipliers per latent frame by the pack's rule (module docs)."""
    values = [float(v) for v in values]
    if len(values) == latent_len:
        multipliers = torch.tensor(values, dtype=torch.float32)
    else:
        if len(values) < len(given):
            raise PusaError(f"{len(values)} noise multipliers for {len(given)} given latent frames (and "
                            f"{latent_len} latent frames)")
        multipliers = torch.zeros(latent_len)
        for i, frame in enumerate(given):
            multipliers[frame] = values[i]
    return PusaNoise(multipliers, tuple(int(g) for g in given), steps if int(noisy_steps) == -1 else int(noisy_steps))


def _nearest(timesteps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.argmin((timesteps.unsqueeze(1) - t.reshape(1, -1)).abs(), dim=0)


def timestep_row(pusa: PusaNoise, t: torch.Tensor, latent: torch.Tensor, stepper, generator: torch.Generator,
                 step: int) -> torch.Tensor:
    """The step's per-frame timesteps ``[1, F]``; re-noises the given frames of ``latent``
    (``[C, F, H, W]``) in place in the first ``noisy_steps`` steps."""
    row = torch.full((1, latent.shape[1]), float(t))
    ts, sigmas = stepper.timesteps.float().cpu(), stepper.sigmas.float().cpu()
    for frame in pusa.given:
        m = float(pusa.multipliers[frame])
        row[:, frame] = row[:, frame] * m
        if step < pusa.noisy_steps and m > 0:
            noise = torch.randn((1, *latent.shape), generator=generator, device=torch.device("cpu"))
            s = float(sigmas[_nearest(ts, row.max())[0]]) * m
            latent[:, frame] = (1 - s) * latent[:, frame] + s * noise[0, :, frame].to(latent)
    return row


def pusa_step(pusa: PusaNoise, stepper, noise_pred: torch.Tensor, row: torch.Tensor,
              latent: torch.Tensor) -> torch.Tensor:
    """One scheduler step of ``latent`` ``[C, F, H, W]`` with the per-frame timesteps ``row``."""
    ts, sigmas = stepper.timesteps.float().cpu(), stepper.sigmas.float().cpu()
    t = row[0].float().cpu()
    ids = _nearest(ts, t)
    sigma = sigmas[ids].clone()
    nxt = torch.where(ids + 1 < len(sigmas), sigmas[torch.clamp(ids + 1, max=len(sigmas) - 1)], torch.zeros_like(sigma))
    for frame in pusa.given:
        m = float(pusa.multipliers[frame])
        sigma[frame] = sigma[frame] * m
        nxt[frame] = nxt[frame] * m
    sigma[t == 0] = 0
    nxt[t == 0] = 0
    delta = (nxt - sigma).view(1, -1, 1, 1).to(latent)
    return latent + noise_pred.to(latent) * delta
