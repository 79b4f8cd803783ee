"""FlowEdit (Kulikov et al. 2024, "FlowEdit: Inversion-Free Text-Based Editing Using
Pre-Trained Flow Models") as the wrapper's WanVideoSampler ran it with ``flowedit_args``
(ComfyUI-WanVideoWrapper ``nodes.py``, 2025-03-05 to 2025-12-26, when the pack removed it).

FlowEdit edits a source latent ``x_src`` without inverting it: at each step a fresh noise
``n`` makes a noisy source ``z_src = (1 - s) x_src + s n``; the edited latent ``x_tgt`` is
moved by the *difference* of two velocities, that of ``z_tgt = x_tgt + z_src - x_src`` under
the target prompt and that of ``z_src`` under the source prompt:
``x_tgt += (s_next - s) * (v(z_tgt, target) - v(z_src, source))``. Its last ``drift_steps``
("n_min" in the paper) are ordinary sampling of the target from ``z_tgt``.

The pack's choices this reproduces (:class:`FlowEditPhase` is one step of it):

- **Timesteps**: the sampler's own (for ``euler``/``euler/beta`` the pack's FlowEdit path
  builds them from ``get_sampling_sigmas(steps, shift)`` passed to diffusers' Euler
  scheduler, which shifts them a second time: :func:`pack_sampling_sigmas`); when
  ``drift_steps > 0`` the last ``drift_steps`` are replaced by those of the same double-
  shifted schedule with ``drift_flow_shift`` for the (reduced) step count with a final 0
  appended, so the last step goes to timestep 0 (:func:`with_drift`).
- **Steps**: the first ``skip_steps`` are skipped (no model call, no noise draw). The next
  sigma of the last step is the last timestep itself, so without drift the last step moves
  nothing.
- **Noise**: one ``randn`` of the latent's shape per step run (drift steps too), float32
  on the CPU, from the sampler's generator after its initial noise draw.
- **cfg**: the step's ``drift_cfg`` in both passes from the first non-drift step on (the
  pack assigns its drift cfg list to the sampler's cfg there, and it stays); only when
  every step run is a drift step is the sampler's cfg used. ``source_cfg`` is read and
  never used by the pack; wfrun does the same.
- **Drift**: at the first drift step ``x_tgt`` becomes that step's ``z_tgt``; from then on
  the target alone is predicted at ``x_tgt`` and stepped with Euler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

#: A velocity prediction: ``(latent, step index, timestep, cfg scale) -> velocity``.
Velocity = Callable[[torch.Tensor, int, torch.Tensor, float], torch.Tensor]


@dataclass(frozen=True)
class FlowEditArgs:
    """FLOWEDITARGS (WanVideoFlowEdit): the source prompt (and optionally the source image
    conditioning) with the step settings."""

    source_embeds: Any                  # TextEmbeds of the source prompt
    skip_steps: int
    drift_steps: int
    drift_flow_shift: float
    source_cfg: float | Sequence[float]
    drift_cfg: float | Sequence[float]
    source_image_embeds: Any = None     # ImageEmbeds, or None: the sampler's


def pack_sampling_sigmas(steps: int, shift: float) -> np.ndarray:
    """The official Wan code's ``get_sampling_sigmas``: ``linspace(1, 0, steps+1)[:steps]``
    time-shifted once (a diffusers Euler scheduler given these shifts them again)."""
    sigma = np.linspace(1, 0, steps + 1)[:steps]
    return shift * sigma / (1 + (shift - 1) * sigma)


def double_shifted_timesteps(steps: int, shift: float) -> torch.Tensor:
    """What the pack's ``retrieve_timesteps(FlowMatchEulerDiscreteScheduler(shift=shift),
    sigmas=get_sampling_sigmas(steps, shift))`` gives: the timesteps of diffusers' Euler
    scheduler from the pack's sigmas, shifted a second time."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=float(shift), use_dynamic_shifting=False)
    sched.set_timesteps(sigmas=pack_sampling_sigmas(int(steps), float(shift)).tolist())
    return sched.timesteps.clone()


def with_drift(timesteps: torch.Tensor, steps: int, drift_steps: int, drift_flow_shift: float) -> torch.Tensor:
    """``timesteps`` with the last ``drift_steps`` taken from the drift schedule (that of
    ``steps`` steps at ``drift_flow_shift``, a 0 appended); unchanged when ``drift_steps`` is 0."""
    out = timesteps.clone()
    if drift_steps > 0:
        drift = torch.cat([double_shifted_timesteps(steps, drift_flow_shift), torch.zeros(1)])
        out[-drift_steps:] = drift[-drift_steps:].to(out)
    return out


def cfg_per_step(values: float | Sequence[float], count: int) -> list[float]:
    """A scale per step: one value repeated ``count`` times (the pack's ``[cfg] * (steps+1)``),
    or the given list."""
    if isinstance(values, (list, tuple)):
        return [float(v) for v in values]
    return [float(values)] * count


@dataclass
class FlowEditPhase:
    """The FlowEdit steps over one set of timesteps. ``x_src`` is the source latent
    (``x_init`` in the pack), ``x_tgt`` the edited one, updated by :meth:`step`."""

    x_src: torch.Tensor
    timesteps: torch.Tensor
    skip_steps: int
    drift_steps: int
    drift_cfg: list[float]
    sampler_cfg: list[float]
    x_tgt: torch.Tensor | None = None
    #: The cfg list in force (the pack's reassigned ``cfg``): the sampler's until a non-drift step runs.
    cfg: list[float] | None = None
    #: The last step's preview of the clean latent, ``z_tgt - v_tgt * t/1000`` (the pack's callback latent).
    preview: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.x_tgt is None:
            self.x_tgt = self.x_src.clone()
        self.cfg = self.sampler_cfg

    @property
    def count(self) -> int:
        return len(self.timesteps)

    def runs(self, idx: int) -> bool:
        return idx >= self.skip_steps

    def is_drift(self, idx: int) -> bool:
        return idx >= self.count - self.drift_steps

    def step(self, idx: int, noise: torch.Tensor, source: Velocity, target: Velocity) -> None:
        """Step ``idx`` (one that :meth:`runs`) with this step's ``noise``: the pack's update."""
        t = self.timesteps[idx]
        sigma = t / 1000.0
        sigma_next = (self.timesteps[idx + 1] if idx < self.count - 1 else self.timesteps[-1]) / 1000.0
        if not self.is_drift(idx):
            self.cfg = self.drift_cfg
        z_src = (1 - sigma) * self.x_src + sigma * noise.to(self.x_src)
        z_tgt = self.x_tgt + z_src - self.x_src
        if not self.is_drift(idx):
            v_src = source(z_src, idx, t, self.cfg[idx])
        else:
            if idx == self.count - self.drift_steps:
                self.x_tgt = z_tgt
            z_tgt = self.x_tgt
            v_src = 0
        v_tgt = target(z_tgt, idx, t, self.cfg[idx])
        self.preview = z_tgt.float() - v_tgt.float() * (t.float() / 1000)
        self.x_tgt = self.x_tgt.float() + (sigma_next - sigma) * (v_tgt - v_src).float()
