"""WanVideoSampler's ``scheduler`` options: sigmas, timesteps and step functions.

Reproduces ``get_scheduler`` of ComfyUI-WanVideoWrapper (``wanvideo/schedulers/__init__.py``
at 2025-07, commit 069ebf7; before the schedulers moved there the same code lived in
``nodes.py``). Options over the pack's history::

    unipc  unipc/beta  dpm++  dpm++/beta  dpm++_sde  dpm++_sde/beta  euler  euler/beta
    euler/accvideo  deis  lcm  lcm/beta  res_multistep  flowmatch_causvid
    flowmatch_distill  flowmatch_pusa  multitalk  sa_ode_stable (2025-10)

``multitalk`` is refused (it only exists for the pack's MultiTalk long-video loop, which
wfrun does not run). Every other option is implemented.

How each one is built, and where wfrun uses diffusers or its own code:

- ``unipc``/``dpm++``/``dpm++_sde`` (+ ``/beta``): the pack's ``FlowUniPCMultistepScheduler``
  and ``FlowDPMSolverMultistepScheduler`` (copied from the official Wan code) compute
  sigmas in a way diffusers does not: the 1000 training sigmas are shifted once at
  construction, ``linspace(sigma_max, sigma_min, steps + 1)[:-1]`` of those is shifted
  *again* (``sigma' = shift*s / (1 + (shift-1)*s)``), optionally mapped to a beta schedule
  (Lee et al. 2024, alpha = beta = 0.6), timesteps are ``int64(sigma*1000)`` and a final 0
  is appended. wfrun computes that schedule itself (:func:`pack_flow_sigmas`) and steps
  with diffusers' ``UniPCMultistepScheduler``/``DPMSolverMultistepScheduler`` configured
  for flow prediction (``use_flow_sigmas``), with the sigmas and timesteps replaced by the
  pack's. The update formulas are the same (the pack's classes are copies of diffusers'
  with flow sigmas).
- ``euler``/``euler/beta``: diffusers' ``FlowMatchEulerDiscreteScheduler`` exactly as the
  pack uses it. ``euler/accvideo`` (in the pack from 2025-04 to 2025-06): 50 steps of that
  schedule, keeping every 5th sigma (10 real steps).
- ``deis``: diffusers' ``DEISMultistepScheduler`` with flow sigmas, last sigma set to 1e-6.
- ``lcm``/``lcm/beta``: the pack's ``FlowMatchLCMScheduler`` is diffusers'
  ``FlowMatchLCMScheduler`` (same schedule as Euler; the step re-noises the x0 prediction).
- ``flowmatch_causvid``, ``flowmatch_distill``, ``flowmatch_pusa``: DiffSynth-style
  ``FlowMatchScheduler`` (linspace from 1 to 0 over steps + 1 points, last dropped,
  shifted; the step finds the current timestep by nearest value and moves to the next
  sigma, 0 after the last). CausVid and distill use fixed timestep lists. wfrun's own
  small implementation (:class:`FlowMatchNearest`).
- ``res_multistep``: the pack's ``FlowMatchSchedulerResMultistep`` (sigmas picked from a
  1000-point linspace, shifted; a second-order exponential-integrator step); wfrun's own
  implementation (:class:`ResMultistep`).
- ``sa_ode_stable``: the pack's ``FlowMatchSAODEStableScheduler`` (2025-10; its settings from
  WanVideoSchedulerSA_ODE through ``options``); wfrun's own implementation (:class:`SAODEStable`).

- ``longcat_distill_euler`` (2025-12): diffusers' Euler on LongCat's distilled schedule, every
  ``50/steps``-th of the 50 timesteps ``1000, 980, ..., 20``, shifted.
- ``er_sde`` (2025-12): the pack's ``ERSDEScheduler`` (``ersde_scheduler.py``), a VP
  ER-SDE-Solver-3 step with noise; wfrun's own implementation (:class:`ERSDE`).
- ``vibt_unipc`` (2025-12): the pack's ``ViBTScheduler``, diffusers' UniPC flow schedule with
  a stochastic bridge step of its own (:class:`ViBT`).
- ``rcm`` is refused: its step needs the pack's rCM input scaling inside the sampler.

Custom ``sigmas`` (the SIGMAS input) are used as the pack uses them. Until 2025-12-03: taken
as the schedule for unipc/dpm++ (timesteps ``int64(sigmas[:-1]*1000)``), passed to diffusers'
set_timesteps for euler/lcm (which shifts them; a list ending in the final sigma loses it, as
the pack's ``sigmas[:-1]`` of mid-2025 on: :func:`_set_timesteps_with_sigmas`), ignored by
the others. From 2025-12-04 (``sigmas_as_given``, the pack's ``_apply_custom_sigmas``, merged
that day in faf9c59): every scheduler that takes them uses them unshifted as its sigmas, with
timesteps ``int64(sigmas[:-1]*1000)`` (unipc, dpm++, euler, deis, lcm, flowmatch_pusa,
res_multistep, er_sde, sa_ode_stable); flowmatch_causvid and flowmatch_distill refuse them;
longcat_distill_euler and vibt_unipc take only their count (``steps = len(sigmas) - 1``).
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

SCHEDULERS: tuple[str, ...] = (
    "unipc", "unipc/beta",
    "dpm++", "dpm++/beta",
    "dpm++_sde", "dpm++_sde/beta",
    "euler", "euler/beta",
    "euler/accvideo",
    "deis",
    "lcm", "lcm/beta",
    "res_multistep",
    "flowmatch_causvid",
    "flowmatch_distill",
    "flowmatch_pusa",
    "sa_ode_stable",
    "longcat_distill_euler",
    "er_sde",
    "vibt_unipc",
)
UNSUPPORTED: dict[str, str] = {
    "rcm": "the rCM scheduler needs the pack's rCM input scaling (c_in, c_noise) inside its sampler, "
           "which wfrun does not have",
    "multitalk": "the 'multitalk' scheduler only works inside the pack's MultiTalk long-video loop "
                 "(image embeds from WanVideoImageToVideoMultiTalk)",
}
#: Accepted spelling of the spec's odd default (the pack's combo default is "uni_pc",
#: which is not in its list; ComfyUI then shows the first option, "unipc").
ALIASES = {"uni_pc": "unipc", "sa_ode_stable/lowstep": "sa_ode_stable"}


class SchedulerError(ValueError):
    """A scheduler name or setting the pack would not accept (the executor names the input)."""

    def __init__(self, message: str, hint: str | None = None, input_name: str = "scheduler"):
        super().__init__(message)
        self.hint = hint
        self.input_name = input_name


def time_shift(sigmas: Any, shift: float) -> Any:
    """The flow-matching time shift ``shift*s / (1 + (shift-1)*s)`` (numpy or torch)."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def beta_sigmas(in_sigmas: np.ndarray, steps: int, alpha: float = 0.6, beta: float = 0.6) -> np.ndarray:
    """Beta schedule between the first and last of ``in_sigmas`` (Lee et al. 2024)."""
    import scipy.stats

    lo, hi = float(in_sigmas[-1]), float(in_sigmas[0])
    ppf = scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps), alpha, beta)
    return np.array([lo + p * (hi - lo) for p in ppf])


def pack_flow_sigmas(steps: int, shift: float, use_beta: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmas (float32, with the final 0) and int64 timesteps of the pack's Flow UniPC/DPM.

    The training schedule ``1 - linspace(1, 1/1000, 1000)[::-1]`` is shifted in float32 at
    construction; its first value is ``sigma_max`` (the last, ``sigma_min``, is 0). The
    inference sigmas are ``linspace(sigma_max, 0, steps+1)[:-1]`` shifted once more.
    """
    train = torch.from_numpy(1.0 - np.linspace(1, 1 / 1000, 1000)[::-1].copy()).to(torch.float32)
    train = time_shift(train, shift)
    sigma_max, sigma_min = train[0].item(), train[-1].item()
    sigmas = np.linspace(sigma_max, sigma_min, steps + 1).copy()[:-1]
    sigmas = time_shift(sigmas, shift)
    if use_beta:
        sigmas = beta_sigmas(sigmas, steps)
    timesteps = torch.from_numpy(sigmas * 1000).to(torch.int64)
    return torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32)), timesteps


# --- steppers -------------------------------------------------------------------------

class Stepper(abc.ABC):
    """What the loop needs: ``timesteps``, ``sigmas`` and ``step(model_output, t, sample)``.

    ``step`` takes batched tensors (``[1, C, T, H, W]``) and returns the previous sample
    with the same shape, like the pack's ``sample_scheduler.step(...)[0]`` calls.
    """

    timesteps: torch.Tensor
    sigmas: torch.Tensor

    @abc.abstractmethod
    def step(self, model_output: torch.Tensor, timestep: torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The previous sample (one solver step from ``timestep``)."""

    def restrict(self, start: int, count: int) -> None:
        """Keep ``count`` timesteps from index ``start`` and the sigmas from ``start`` (one
        more than the timesteps where the schedule has a final sigma), as the pack's
        ``get_scheduler`` slices its scheduler for a step range."""
        final = 1 if len(self.sigmas) > len(self.timesteps) else 0
        self.timesteps = self.timesteps[start:start + count]
        self.sigmas = self.sigmas[start:start + count + final]


class DiffusersStepper(Stepper):
    """A diffusers scheduler; ``generator`` is passed when its ``step`` takes one."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self._takes_generator = "generator" in inspect.signature(scheduler.step).parameters

    @property
    def timesteps(self) -> torch.Tensor:  # type: ignore[override]
        return self.scheduler.timesteps

    @property
    def sigmas(self) -> torch.Tensor:  # type: ignore[override]
        return self.scheduler.sigmas

    def restrict(self, start: int, count: int) -> None:
        sched = self.scheduler
        sched.timesteps = sched.timesteps[start:start + count]
        sched.sigmas = sched.sigmas[start:start + count + 1]  # always one longer, as the pack slices
        for attr in ("_step_index", "_begin_index"):  # found again from the first timestep it is given
            if hasattr(sched, attr):
                setattr(sched, attr, None)

    def step(self, model_output, timestep, sample, generator=None):
        kwargs = {"generator": generator} if self._takes_generator else {}
        out = self.scheduler.step(model_output, timestep, sample, return_dict=False, **kwargs)
        return out[0]


class FlowMatchNearest(Stepper):
    """DiffSynth's ``FlowMatchScheduler`` step (pack: ``basic_flowmatch.py``, ``flowmatch_pusa.py``).

    The current sigma is the one whose timestep is nearest to ``timestep``; the sample
    moves along the velocity to the next sigma (0 after the last):
    ``x + v * (sigma_next - sigma)``. A per-frame timestep ``[1, F]`` (Pusa) gives one
    sigma per latent frame; frames with timestep 0 use sigma 0 as the pack does.
    """

    def __init__(self, timesteps: torch.Tensor, sigmas: torch.Tensor):
        self.timesteps = timesteps.float()
        self.sigmas = sigmas.float()  # one per timestep (no final 0 needed)

    def step(self, model_output, timestep, sample, generator=None):
        ts = self.timesteps.to(model_output.device)
        sig = self.sigmas.to(model_output.device)
        timestep = torch.as_tensor(timestep, device=model_output.device).float()
        if timestep.ndim == 2:  # [1, F] per-frame timesteps (flowmatch_pusa)
            t = timestep[0]
            ids = torch.argmin((ts.unsqueeze(1) - t).abs(), dim=0)
            sigma = sig[ids].clone()
            nxt = torch.where(ids + 1 < len(ts), sig[torch.clamp(ids + 1, max=len(ts) - 1)],
                              torch.zeros_like(sigma))
            sigma[t == 0] = 0
            shape = (1, 1, -1, 1, 1)
            return sample + model_output * (nxt.view(shape) - sigma.view(shape))
        idx = int(torch.argmin((ts - timestep.flatten()[0]).abs()))
        sigma = sig[idx]
        nxt = sig[idx + 1] if idx + 1 < len(ts) else torch.zeros((), device=sig.device)
        return sample + model_output * (nxt - sigma)


class SAODEStable(Stepper):
    """The pack's ``FlowMatchSAODEStableScheduler`` (``fm_sa_ode.py``, 2025-10 on; from
    eddyhhlure1Eddy's ode-ComfyUI-WanVideoWrapper), a deterministic flow-matching ODE step
    with Adams-Bashforth velocities.

    Sigmas: ``1 - t`` (10 steps or fewer) or ``(1 + cos(π t)) / 2`` on ``t = linspace(0, 1,
    steps + 1)``, shifted; timesteps ``sigma * 1000`` without the final 0 (custom sigmas:
    taken as given, timesteps ``int64(sigma * 1000)``). A step at the nearest timestep's
    sigma, to the next sigma (the last one again after the end): the velocity is kept
    (the last ``order + 1``) and combined by Adams-Bashforth of the order the position asks
    (``solver_order``; adaptive: at most 2 above sigma 0.7 or with 8 steps or fewer, one
    less below ``convergence_threshold``), then, with more than 8 steps, below the
    threshold: smoothed (``smoothing_factor`` of the last smoothed velocity), the sigma
    step damped by ``0.5 + 0.5 sigma / threshold``, and below sigma 0.05, with three
    velocities kept, blended towards a step with their mean by ``sigma / 0.05``.
    """

    def __init__(self, sigmas: torch.Tensor, timesteps: torch.Tensor, num_steps: int, solver_order: int = 3,
                 use_adaptive_order: bool = True, use_velocity_smoothing: bool = True,
                 convergence_threshold: float = 0.15, smoothing_factor: float = 0.8):
        self.sigmas = sigmas.float()
        self.timesteps = timesteps
        self.num_steps = int(num_steps)
        self.order = int(solver_order)
        self.adaptive = bool(use_adaptive_order)
        self.smoothing = bool(use_velocity_smoothing)
        self.threshold = float(convergence_threshold)
        self.factor = float(smoothing_factor)
        self.velocities: list[torch.Tensor] = []
        self.smoothed: torch.Tensor | None = None

    @classmethod
    def schedule(cls, steps: int, shift: float, sigmas: torch.Tensor | None, **options: Any) -> "SAODEStable":
        if sigmas is not None:
            s = sigmas.detach().float().cpu()
            return cls(s, (s[:-1] * 1000).to(torch.int64), len(s) - 1, **options)
        t = torch.linspace(0, 1, steps + 1)
        s = 1 - t if steps <= 10 else 0.5 * (1 + torch.cos(np.pi * t))
        s = time_shift(s, shift)
        return cls(s, s[:-1] * 1000, steps, **options)

    def _order(self, sigma: float) -> int:
        if not self.adaptive:
            return self.order
        if self.num_steps <= 8 or sigma > 0.7:
            return min(2, self.order)
        if sigma > self.threshold:
            return self.order
        return max(1, self.order - 1)

    def _velocity(self, order: int) -> torch.Tensor:
        v = self.velocities
        order = min(order, len(v))
        if order >= 3:
            return (23 / 12) * v[-1] - (16 / 12) * v[-2] + (5 / 12) * v[-3]
        if order >= 2:
            return 1.5 * v[-1] - 0.5 * v[-2]
        return v[-1]

    def _smooth(self, velocity: torch.Tensor, sigma: float) -> torch.Tensor:
        if not self.smoothing or self.num_steps <= 8:
            return velocity
        if sigma < self.threshold:
            self.smoothed = velocity if self.smoothed is None else \
                self.factor * self.smoothed + (1 - self.factor) * velocity
            return self.smoothed
        self.smoothed = velocity
        return velocity

    def step(self, model_output, timestep, sample, generator=None):
        ts = self.timesteps.to(model_output.device).float()
        sig = self.sigmas.to(model_output.device)
        idx = int(torch.argmin((ts - torch.as_tensor(timestep, device=ts.device).float().flatten()[0]).abs()))
        sigma = sig[idx]
        sigma_next = sig[idx + 1] if idx + 1 < len(sig) else sig[-1]
        value = float(sigma)
        self.velocities.append(model_output)
        while len(self.velocities) > self.order + 1:
            self.velocities.pop(0)
        velocity = self._velocity(self._order(value)) if len(self.velocities) >= 2 else model_output
        velocity = self._smooth(velocity, value)
        dt = sigma_next - sigma
        late = self.num_steps > 8
        if late and value < self.threshold:
            dt = dt * (0.5 + 0.5 * (value / self.threshold))
        out = sample + velocity * dt
        if late and value < 0.05 and len(self.velocities) >= 3:
            stabilized = sample + (sum(self.velocities[-3:]) / 3) * dt
            blend = value / 0.05
            out = blend * out + (1 - blend) * stabilized
        return out


class ResMultistep(Stepper):
    """The pack's ``FlowMatchSchedulerResMultistep`` (``flowmatch_res_multistep.py``).

    Sigmas: ``steps`` values picked at ``round(i * 1000/steps)`` from
    ``linspace(1, 0.003/1.002, 1000)``, then 0, all shifted. Step: Euler on the first
    step and into sigma 0; otherwise the second-order RES update with
    ``phi1(-h)``, ``phi2(-h)`` in log-sigma time using the previous x0 prediction.
    """

    def __init__(self, steps: int, shift: float, sigma_max: float = 1.0, sigma_min: float = 0.003 / 1.002):
        full = torch.linspace(sigma_max, sigma_min, 1000)
        every = 1000 / steps
        picked = [float(full[int(round(i * every))]) for i in range(steps)] + [0.0]
        self.sigmas = time_shift(torch.tensor(picked, dtype=torch.float32), shift)
        self.timesteps = self.sigmas * 1000
        self._prev_x0: torch.Tensor | None = None
        self._old_sigma_next: torch.Tensor | None = None

    @classmethod
    def from_sigmas(cls, sigmas: torch.Tensor) -> "ResMultistep":
        """Custom sigmas taken as given (the pack's ``_apply_custom_sigmas``, 2025-12-04 on)."""
        r = cls(1, 1.0)
        r.sigmas = sigmas.detach().float().cpu()
        r.timesteps = (r.sigmas[:-1] * 1000).to(torch.int64)
        return r

    def step(self, model_output, timestep, sample, generator=None):
        ts = self.timesteps.to(model_output.device).float()
        sig = self.sigmas.to(model_output.device)
        timestep = torch.as_tensor(timestep, device=model_output.device).float().flatten()[0]
        idx = int(torch.argmin((ts - timestep).abs()))
        sigma = sig[idx]
        sigma_prev = sig[idx - 1] if idx > 0 else sigma
        sigma_next = sig[idx + 1] if idx + 1 < len(sig) else torch.zeros((), device=sig.device)
        x0 = sample - sigma * model_output
        if float(sigma_next) == 0.0 or self._prev_x0 is None:
            out = sample + model_output * (sigma_next - sigma)
        else:
            def lt(s):  # log-sigma time
                return -torch.log(s)

            h = lt(sigma_next) - lt(sigma)
            c2 = (lt(sigma_prev) - lt(self._old_sigma_next)) / h
            phi1 = torch.expm1(-h) / -h
            phi2 = (phi1 - 1.0) / -h
            b1 = torch.nan_to_num(phi1 - phi2 / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2 / c2, nan=0.0)
            out = torch.exp(-h) * sample + h * (b1 * x0 + b2 * self._prev_x0)
        self._old_sigma_next = sigma_next
        self._prev_x0 = x0
        return out


class ERSDE(Stepper):
    """The pack's ``ERSDEScheduler`` (``ersde_scheduler.py``, 2025-12 on): the VP
    ER-SDE-Solver-3 of Cui et al. (arXiv 2309.06169) on flow sigmas.

    Sigmas: ``steps`` values picked at ``round(i * 1000/steps)`` from
    ``linspace(1, 0.003/1.002, 1000)``, then 0, all shifted (custom sigmas: as given);
    timesteps ``sigma * 1000`` without the final 0. A step at the nearest timestep's sigma
    ``s`` to the next one ``t``: ``x0 = x - s v``; into sigma 0 the step returns ``x0``;
    otherwise ``r = f(t)/f(s)`` with the noise scaler ``f(x) = x (e^(x^0.3) + 10)``, first
    order ``r x + (1 - r) x0`` (the pack's alpha ratios are 1 up to its 1e-10 guards), then
    from the second call the second- and third-order corrections with the previous x0 (and
    its difference quotient), their integrals over 200 points, and noise
    ``sqrt(t² - s² r²)`` of a CPU float32 draw from the sampler's generator.
    """

    POINTS = 200

    def __init__(self, sigmas: torch.Tensor, timesteps: torch.Tensor, max_stage: int = 3, s_noise: float = 1.0):
        self.sigmas = sigmas.float()
        self.timesteps = timesteps
        self.max_stage, self.s_noise = int(max_stage), float(s_noise)
        self.calls = 0
        self.old_x0: torch.Tensor | None = None
        self.old_d: torch.Tensor | None = None

    @classmethod
    def schedule(cls, steps: int, shift: float, sigma_max: float = 1.0,
                 sigma_min: float = 0.003 / 1.002) -> "ERSDE":
        full = torch.linspace(sigma_max, sigma_min, 1000)
        every = len(full) / steps
        picked = [float(full[int(round(i * every))]) for i in range(steps)] + [0.0]
        s = time_shift(torch.tensor(picked, dtype=torch.float32), shift)
        return cls(s, s[:-1] * 1000)

    @staticmethod
    def _scaler(x: torch.Tensor) -> torch.Tensor:
        return x * ((x ** 0.3).exp() + 10.0)

    def step(self, model_output, timestep, sample, generator=None):
        eps = 1e-10
        sig = self.sigmas.to(model_output.device)
        ts = self.timesteps.to(model_output.device).float()
        t_in = torch.as_tensor(timestep, device=ts.device).float().flatten()[:1]
        idx = int(torch.argmin((ts.unsqueeze(0) - t_in.unsqueeze(1)).abs(), dim=1)[0])
        s = sig[idx].reshape(-1, 1, 1, 1)
        t = sig[idx + 1].reshape(-1, 1, 1, 1) if idx + 1 < len(sig) else torch.zeros_like(s)
        alpha_s, alpha_t = s / (s + eps), t / (t + eps)
        r_alpha = alpha_t / (alpha_s + eps)
        x0 = sample - s * model_output
        stage = min(self.max_stage, self.calls + 1)
        if bool((t == 0.0).all()):
            x = x0
        else:
            f = self._scaler
            r = f(t) / (f(s) + eps)
            x = r_alpha * r * sample + alpha_t * (1 - r) * x0
            if stage >= 2 and self.old_x0 is not None:
                dt = t - s
                size = -dt / self.POINTS
                pos = t + torch.arange(0, self.POINTS, dtype=torch.float32, device=sample.device) * size
                scaled = f(pos)
                integral = torch.sum(1 / (scaled + eps)) * size
                prev = sig[idx - 1].reshape(-1, 1, 1, 1) if idx > 0 else s
                d = (x0 - self.old_x0) / ((s - prev) + eps)
                x = x + alpha_t * (dt + integral * f(t)) * d
                if stage >= 3 and self.old_d is not None:
                    integral_u = torch.sum((pos - s) / (scaled + eps)) * size
                    prev2 = sig[idx - 2].reshape(-1, 1, 1, 1) if idx > 1 else prev
                    u = (d - self.old_d) / (((s - prev2) / 2) + eps)
                    x = x + alpha_t * ((dt ** 2) / 2 + integral_u * f(t)) * u
                self.old_d = d
            if self.s_noise > 0:
                term = torch.nan_to_num((t ** 2 - s ** 2 * r ** 2).sqrt(), nan=0.0)
                noise = torch.randn(*x.shape, dtype=torch.float32, device=torch.device("cpu"),
                                    generator=generator).to(x)
                x = x + alpha_t * noise * self.s_noise * term
        self.old_x0 = x0
        self.calls += 1
        return x


class ViBT(Stepper):
    """The pack's ``ViBTScheduler`` (``vitb_unipc.py``, 2025-12 on, for ViBT models):
    diffusers' UniPC flow schedule (``use_flow_sigmas``, the sampler's shift) with its own
    stochastic bridge step. From timestep ``τ`` (int64) to the next smaller one ``τ'``
    (``-1`` after the last): ``Δ = (τ' - τ)/1000``, ``c = (τ + 1)/1000``,
    ``η = sqrt(-Δ (c + Δ) / c)`` and ``x + Δ v + η ε``, ``ε`` a CPU draw from the sampler's
    generator in the sample's dtype (noise scale 1)."""

    def __init__(self, steps: int, shift: float):
        from diffusers import UniPCMultistepScheduler

        sched = UniPCMultistepScheduler(use_flow_sigmas=True)
        sched.config.flow_shift = shift  # the pack's set_parameters(shift=...)
        sched.set_timesteps(steps)
        self.timesteps = sched.timesteps
        self.sigmas = sched.sigmas

    def step(self, model_output, timestep, sample, generator=None):
        ts = self.timesteps.to(model_output.device)
        tau = torch.as_tensor(timestep, device=ts.device).reshape(-1)[:1].to(ts.dtype)
        lower = ts[ts < tau]
        delta = ((lower.max() - tau) if len(lower) else (-tau - 1)) / 1000
        current = (tau + 1) / 1000.0
        eta = (-delta * (current + delta) / current) ** 0.5
        noise = torch.randn(sample.shape, generator=generator, device=torch.device("cpu"),
                            dtype=sample.dtype).to(sample.device)
        return sample + delta.to(sample.device) * model_output + eta.to(sample.device) * noise


# --- building -------------------------------------------------------------------------

@dataclass
class Schedule:
    """A scheduler ready to run: its stepper and the timesteps the loop walks."""

    name: str
    stepper: Stepper
    timesteps: torch.Tensor
    #: Steps after the pack's ``denoise_strength`` adjustments (what the progress bar shows).
    steps: int
    per_frame_timesteps: bool = False


def normalize_name(name: str) -> str:
    name = ALIASES.get(str(name), str(name))
    if name in UNSUPPORTED:
        raise SchedulerError(f"scheduler '{name}' is not supported: {UNSUPPORTED[name]}",
                             hint="choose one of: " + ", ".join(SCHEDULERS))
    if name not in SCHEDULERS:
        raise SchedulerError(f"unknown scheduler '{name}'", hint="choose one of: " + ", ".join(SCHEDULERS))
    return name


def _flow_multistep(kind: str, steps: int, shift: float, use_beta: bool, sigmas: torch.Tensor | None,
                    algorithm_type: str = "dpmsolver++") -> DiffusersStepper:
    from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler

    common = dict(num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True,
                  flow_shift=shift, solver_order=2, lower_order_final=True, final_sigmas_type="zero")
    if kind == "unipc":
        sched = UniPCMultistepScheduler(**common, predict_x0=True, solver_type="bh2")
    else:
        sched = DPMSolverMultistepScheduler(**common, algorithm_type=algorithm_type, solver_type="midpoint",
                                            euler_at_final=False)
    n = steps if sigmas is None else max(len(sigmas) - 1, 1)
    sched.set_timesteps(n)  # resets the solver state; the schedule is replaced below
    if sigmas is None:
        s, t = pack_flow_sigmas(steps, shift, use_beta)
    else:
        s = sigmas.detach().float().cpu()
        t = (s[:-1] * 1000).to(torch.int64)
    sched.sigmas = s
    sched.timesteps = t
    sched.num_inference_steps = len(t)
    return DiffusersStepper(sched)


def build_schedule(scheduler: str, steps: int, shift: float, *, denoise_strength: float = 1.0,
                   sigmas: torch.Tensor | Sequence[float] | None = None, transformer_dim: int = 1536,
                   device: str | torch.device = "cpu", steps_divided: bool = False,
                   step_range: tuple[int | float, int | float] | None = None,
                   options: Any = None, walked: bool = True, sigmas_as_given: bool = False,
                   enhance_hf: bool = False) -> Schedule:
    """The pack's ``get_scheduler`` plus WanVideoSampler's step arithmetic around it.

    Before the sampler had a step range (to 2025-07-27): ``steps = int(steps /
    denoise_strength)`` before building the schedule; with ``denoise_strength < 1`` the
    loop then runs ``timesteps[-(int(steps*denoise)+1):]`` (one more timestep than the
    reduced step count, exactly as the pack slices). ``steps_divided``: ``steps`` is already
    ``int(steps / denoise_strength)`` (the sampler divides first, then lets a cfg list
    override the count, as the pack does).

    With ``step_range = (start_step, end_step)`` (the sampler's inputs from 2025-07-28; the
    sampler turns a denoise below 1 into a start step): no division; the schedule is built
    for ``steps`` and cut as the pack's ``get_scheduler`` cuts it (:func:`step_slice`).
    ``options``: settings of the scheduler itself (WanVideoSchedulerSA_ODE's, by name).
    ``walked``: the schedule will be stepped through (:func:`_check_walk`); False for callers
    that only read its sigmas (TripleKSampler's shift searches), which the pack computes at
    any shift. ``sigmas_as_given``: custom sigmas follow the pack from 2025-12-04 on (taken
    unshifted by every scheduler that accepts them; see the module docstring).
    ``enhance_hf``: WanVideoScheduler's high-frequency tail (:func:`enhance_hf_tail`).
    """
    name = normalize_name(scheduler)
    if denoise_strength <= 0:
        raise SchedulerError("denoise_strength must be above 0 (the pack divides the steps by it)",
                             input_name="denoise_strength")
    ranged = step_range is not None
    steps = int(steps) if (steps_divided or ranged) else int(int(steps) / float(denoise_strength))
    if steps < 1:
        raise SchedulerError("steps must be at least 1", input_name="steps")
    if sigmas is not None and not isinstance(sigmas, torch.Tensor):
        sigmas = torch.tensor(list(sigmas), dtype=torch.float32)
    built = None
    if sigmas is not None and sigmas_as_given:
        built = _build_as_given(name, sigmas, float(shift), options)
        steps = max(len(sigmas) - 1, 1)  # the pack's get_scheduler, 2025-12-13 on
        if built is None:  # the scheduler takes only their count
            sigmas = None
    if built is None:
        built = _build(name, steps, float(shift), float(denoise_strength), sigmas, int(transformer_dim), device,
                       options)
    stepper, timesteps, per_frame = built
    if timesteps is None:
        timesteps = stepper.timesteps
    if enhance_hf:
        timesteps = enhance_hf_tail(stepper, timesteps)
        steps = len(timesteps)
    run_steps = steps
    if ranged:
        start, end = step_slice(len(timesteps), *step_range, sigmas=stepper.sigmas.detach().float().cpu())
        timesteps = timesteps[start:end + 1]
        stepper.restrict(start, len(timesteps))
        run_steps = len(timesteps)
    elif denoise_strength < 1.0:
        run_steps = int(steps * denoise_strength)
        timesteps = timesteps[-(run_steps + 1):]
    if walked and isinstance(stepper, DiffusersStepper):
        _check_walk(stepper, timesteps, float(shift), sigmas is not None)
    return Schedule(name=name, stepper=stepper, timesteps=timesteps, steps=run_steps, per_frame_timesteps=per_frame)


def _check_walk(stepper: "DiffusersStepper", timesteps: torch.Tensor, shift: float, custom: bool) -> None:
    """Refuse a schedule the pack's diffusers-derived schedulers cannot walk.

    Those schedulers (the pack's FlowUniPC/FlowDPM copies of diffusers, and diffusers' own
    Euler, LCM and DEIS) find their place from the first timestep they are given: where that
    value occurs more than once in the schedule they take its *second* occurrence, then move
    one place per step and run off the end of the schedule on the last step (UniPC's
    ``assert self.this_order > 0``, an IndexError in the others). That happens at shift 0
    (every sigma 0, or 0/0 in Euler's shift formula) and at a shift so small that the first
    sigmas round to one whole timestep (unipc/beta at shift 0.01 and 50 steps: 90, 90, 90,
    ...). The pack fails the same way, so wfrun names the input instead of failing inside
    the scheduler."""
    if len(timesteps) == 0:
        return
    every = stepper.timesteps.detach().cpu()
    first = timesteps[0].detach().cpu()
    sigmas = stepper.sigmas.detach().float().cpu()
    undefined = not (bool(torch.isfinite(sigmas).all()) and bool(torch.isfinite(every.float()).all()))
    flat = undefined or bool(sigmas.abs().max() == 0)
    repeats = int((every == first).sum())
    if repeats <= 1 and not flat:
        return
    at = "" if custom else f" at shift {shift:g}"
    if flat:
        why = f"the schedule has no noise levels{at} (every sigma is 0 or undefined)"
    else:
        why = f"the schedule starts with timestep {first.item():g} {repeats} times{at}"
    raise SchedulerError(f"{why}: the scheduler then loses its place and fails on the last step, in the pack too",
                         hint="give distinct sigmas" if custom else
                         "use a smaller shift or fewer steps" if shift > 1 else "use a larger shift",
                         input_name="sigmas" if custom else "shift")


def step_slice(count: int, start_step: int | float, end_step: int | float,
               sigmas: torch.Tensor | None = None) -> tuple[int, int]:
    """First and last index of the timesteps a step range keeps (the pack's
    ``get_scheduler``, 2025-08 on): from ``start_step`` (0: the first) up to step
    ``end_step - 1`` (-1: the last). Two samplers splitting one schedule at step ``k`` use
    ``end_step = k`` and ``start_step = k``. A *float* boundary is a sigma threshold (the
    pack's WanVideoSigmaToStep passes one): the range starts at the first step whose sigma
    is at most ``start_step`` and ends at the last whose sigma is at least ``end_step``."""
    start_float, end_float = isinstance(start_step, float), isinstance(end_step, float)
    if (not start_float and end_step != -1 and not end_float and start_step >= end_step) or \
            (start_float and end_step != -1 and end_step >= start_step):
        raise SchedulerError(f"start_step ({start_step}) must be less than end_step ({end_step})",
                             hint="end_step -1 samples to the end", input_name="start_step")
    if start_step < 0 or (end_step < -1 and not end_float):
        raise SchedulerError("start_step must be 0 or more and end_step -1 or more", input_name="start_step")
    # An empty range: the pack's newest get_scheduler (after 2026-05-24) refuses it; before, its
    # loop never ran and it failed after it with an UnboundLocalError. (An end_step past the
    # end, which that version refuses too, ran the whole schedule before and still does here:
    # the date of that change is not known.)
    if not start_float and start_step >= count:
        raise SchedulerError(f"start_step ({start_step}) must be less than the {count} steps: the range is empty",
                             hint="lower start_step", input_name="start_step")
    if (start_float or end_float) and sigmas is None:
        raise SchedulerError("a sigma threshold needs the schedule's sigmas", input_name="start_step")
    start, end = 0, count - 1
    if start_float:
        below = (sigmas <= start_step).nonzero()
        start = int(below[0]) if len(below) else 0
    elif start_step > 0:
        start = int(start_step)
    if end_float:
        above = (sigmas >= end_step).nonzero()
        end = int(above[-1]) if len(above) else count - 1
    elif end_step != -1:
        end = int(end_step) - 1
    return start, end


def _build(name: str, steps: int, shift: float, denoise: float, sigmas: torch.Tensor | None, dim: int,
           device: Any, options: Any = None) -> tuple[Stepper, torch.Tensor | None, bool]:
    use_beta = name.endswith("/beta")
    if name.startswith("unipc"):
        return _flow_multistep("unipc", steps, shift, use_beta, sigmas), None, False
    if name.startswith("dpm++"):
        algo = "sde-dpmsolver++" if "sde" in name else "dpmsolver++"
        return _flow_multistep("dpm", steps, shift, use_beta, sigmas, algo), None, False
    if name in ("euler", "euler/beta", "euler/accvideo"):
        from diffusers import FlowMatchEulerDiscreteScheduler

        if name == "euler/accvideo" and steps != 50:
            raise SchedulerError("euler/accvideo needs steps = 50 (it runs 10 of them, as AccVideo)",
                                 input_name="steps")
        sched = FlowMatchEulerDiscreteScheduler(shift=shift, use_beta_sigmas=(name == "euler/beta"))
        _set_timesteps_with_sigmas(sched, steps, sigmas)
        if name == "euler/accvideo":
            keep = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
            sched.sigmas = sched.sigmas[keep]
            sched.timesteps = sched.timesteps[keep[:-1]]
        return DiffusersStepper(sched), None, False
    if name == "deis":
        from diffusers import DEISMultistepScheduler

        sched = DEISMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=shift)
        sched.set_timesteps(steps)
        sched.sigmas[-1] = 1e-6
        return DiffusersStepper(sched), None, False
    if name.startswith("lcm"):
        from diffusers import FlowMatchLCMScheduler

        sched = FlowMatchLCMScheduler(shift=shift, use_beta_sigmas=(name == "lcm/beta"))
        _set_timesteps_with_sigmas(sched, steps, sigmas)
        return DiffusersStepper(sched), None, False
    if name == "flowmatch_causvid":
        if dim == 5120:
            listed = [999, 934, 862, 756, 603, 410, 250, 140, 74]
        else:
            if steps != 4:
                raise SchedulerError("the CausVid schedule of the 1.3B model is only for 4 steps", input_name="steps")
            listed = [1000, 750, 500, 250]
        ts = torch.tensor(listed, dtype=torch.float32)[:steps]
        return FlowMatchNearest(ts, ts / 1000), ts.to(torch.int64), False
    if name == "flowmatch_distill":
        if steps != 4:
            raise SchedulerError("flowmatch_distill is only for 4 steps", input_name="steps")
        # 1000 training timesteps (DiffSynth, extra_one_step, sigma_min 0), then 0; pick 999, 750, 500, 250.
        train = time_shift(torch.linspace(1.0, 0.0, 1001)[:-1], shift) * 1000
        train = torch.cat([train, torch.tensor([0.0])])
        ts = train[1000 - torch.tensor([999, 750, 500, 250])]
        return FlowMatchNearest(ts, ts / 1000), ts, False
    if name == "flowmatch_pusa":
        s = time_shift(torch.linspace(denoise, 0.0, steps + 1)[:-1], shift)
        return FlowMatchNearest(s * 1000, s), None, True
    if name == "sa_ode_stable":
        r = SAODEStable.schedule(steps, shift, sigmas, **dict(options or {}))
        return r, r.timesteps, False
    if name == "res_multistep":
        r = ResMultistep(steps, shift)
        return r, r.timesteps, False
    if name == "longcat_distill_euler":
        from diffusers import FlowMatchEulerDiscreteScheduler

        sched = FlowMatchEulerDiscreteScheduler(shift=shift, time_shift_type="linear")
        sched.set_timesteps(steps, sigmas=longcat_distill_sigmas(steps))
        return DiffusersStepper(sched), None, False
    if name == "er_sde":
        r = ERSDE.schedule(steps, shift)
        return r, r.timesteps, False
    if name == "vibt_unipc":
        v = ViBT(steps, shift)
        return v, v.timesteps, False
    raise AssertionError(name)


def longcat_distill_sigmas(steps: int, distill_steps: int = 50) -> torch.Tensor:
    """LongCat's distilled schedule before the shift: of the timesteps ``1000, 980, ..., 20``
    (``distill_steps`` of them), the ones at ``floor(linspace(0, distill_steps, steps + 1))``
    without the last, over 1000."""
    indices = (torch.arange(1, distill_steps + 1, dtype=torch.float32) * (1000 // distill_steps)).round().long()
    picks = torch.floor(torch.linspace(0, distill_steps, steps + 1)[:-1]).to(torch.int64)
    return torch.flip(indices, [0])[picks].float() / 1000


class GivenSigmasStepper(DiffusersStepper):
    """A diffusers scheduler on the pack's ``_apply_custom_sigmas`` schedule: its int64
    timesteps reach ``step`` as float values. The pack hands them as CUDA int64 tensors,
    which diffusers' Euler and LCM ``step`` accept (their check for integer indices names
    CPU tensor classes only); on the CPU the same values go as floats, found in the schedule
    by value as before."""

    def step(self, model_output, timestep, sample, generator=None):
        if isinstance(timestep, torch.Tensor) and not timestep.is_floating_point():
            timestep = timestep.float()
        return super().step(model_output, timestep, sample, generator)


def enhance_hf_tail(stepper: Stepper, timesteps: torch.Tensor) -> torch.Tensor:
    """The pack's ``enhance_hf`` (WanVideoScheduler, 2025-12-23 on): the timesteps above half
    the largest stay; below, ``n = max(3, min(15, int(0.2 * count)))`` evenly spaced ones
    from that half down to (not including) 0 replace the rest, as float32; the sigmas become
    ``timesteps / 1000`` and a final 0. The scheduler steps on that schedule from then on."""
    count = len(timesteps)
    tail_count = max(3, min(15, int(count * 0.2)))
    start = float(timesteps.max()) * 0.5
    tail = torch.from_numpy(np.linspace(start, 0, tail_count, dtype=np.float32, endpoint=False))
    kept = timesteps[timesteps > start]
    new = torch.cat([kept.to(torch.float32) if not kept.is_floating_point() else kept, tail.to(kept.device)])
    sigmas = torch.cat([new / 1000, torch.zeros(1, device=new.device)])
    target = stepper.scheduler if isinstance(stepper, DiffusersStepper) else stepper
    target.timesteps, target.sigmas = new, sigmas
    for attr in ("_step_index", "_begin_index"):
        if hasattr(target, attr):
            setattr(target, attr, None)
    return new


def _replaced(sched: Any, sigmas: torch.Tensor) -> "DiffusersStepper":
    """A diffusers scheduler whose schedule is ``sigmas`` as given, timesteps
    ``int64(sigmas[:-1] * 1000)`` (the pack's ``_apply_custom_sigmas``)."""
    sched.set_timesteps(max(len(sigmas) - 1, 1))  # resets the solver state; replaced below
    sched.sigmas = sigmas
    sched.timesteps = (sigmas[:-1] * 1000).to(torch.int64)
    sched.num_inference_steps = len(sched.timesteps)
    return GivenSigmasStepper(sched)


def _build_as_given(name: str, sigmas: torch.Tensor, shift: float,
                    options: Any = None) -> tuple[Stepper, torch.Tensor | None, bool] | None:
    """The pack's ``get_scheduler`` with custom sigmas, 2025-12-04 on; None where the
    scheduler takes only their count (longcat_distill_euler, vibt_unipc)."""
    s = sigmas.detach().float().cpu()
    if len(s) < 2:
        raise SchedulerError(f"{len(s)} custom sigma(s): a schedule needs at least two (the last one final)",
                             input_name="sigmas")
    use_beta = name.endswith("/beta")
    if name.startswith("unipc"):
        return _flow_multistep("unipc", len(s) - 1, shift, use_beta, s), None, False
    if name.startswith("dpm++"):
        algo = "sde-dpmsolver++" if "sde" in name else "dpmsolver++"
        return _flow_multistep("dpm", len(s) - 1, shift, use_beta, s, algo), None, False
    if name in ("euler", "euler/beta"):
        from diffusers import FlowMatchEulerDiscreteScheduler

        return _replaced(FlowMatchEulerDiscreteScheduler(use_beta_sigmas=use_beta), s), None, False
    if name.startswith("lcm"):
        from diffusers import FlowMatchLCMScheduler

        return _replaced(FlowMatchLCMScheduler(use_beta_sigmas=use_beta), s), None, False
    if name == "deis":
        from diffusers import DEISMultistepScheduler

        return _replaced(DEISMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction"), s), \
            None, False
    if name == "flowmatch_pusa":
        t = (s[:-1] * 1000).to(torch.int64)
        return FlowMatchNearest(t.float(), s), t, True
    if name == "res_multistep":
        r = ResMultistep.from_sigmas(s)
        return r, r.timesteps, False
    if name == "er_sde":
        t = (s[:-1] * 1000).to(torch.int64)
        return ERSDE(s, t), t, False
    if name == "sa_ode_stable":
        r = SAODEStable.schedule(len(s) - 1, 1.0, s, **dict(options or {}))
        return r, r.timesteps, False
    if name in ("flowmatch_causvid", "flowmatch_distill"):
        raise SchedulerError(f"the {name} scheduler does not take custom sigmas (the pack refuses them too)",
                             hint="disconnect sigmas or choose another scheduler", input_name="sigmas")
    if name in ("longcat_distill_euler", "vibt_unipc"):
        return None
    raise SchedulerError(f"the {name} scheduler of the pack's 2025-12-04 and later versions has no custom sigmas "
                         "in wfrun", hint="disconnect sigmas", input_name="sigmas")


def _set_timesteps_with_sigmas(sched: Any, steps: int, sigmas: torch.Tensor | None) -> None:
    """Custom sigmas for diffusers' euler/lcm ``set_timesteps``, which wants one sigma per
    step and appends the final 0 itself.

    The pack passed its SIGMAS input whole at first (``sigmas.tolist()``: a list of
    ``steps`` values), and from mid-2025 without its last value (``sigmas[:-1]``: ComfyUI
    sigmas, as BasicScheduler or FloatToSigmas make them, end with the final 0, so
    ``steps + 1`` values; Lightning's ``1.0, 0.9375, 0.8333, 0.625, 0.0`` with 4 steps).
    Each era refuses the other's length, so the length says which rule the file ran
    under: ``steps + 1`` values lose the last, ``steps`` values are taken whole.
    """
    if sigmas is not None and len(sigmas) == steps + 1:
        sigmas = sigmas[:-1]
    try:
        sched.set_timesteps(steps, sigmas=sigmas.tolist() if sigmas is not None else None)
    except ValueError as err:  # diffusers: custom sigmas must number `steps`
        raise SchedulerError(f"the sigmas do not fit this scheduler: {err}", input_name="sigmas",
                             hint=f"give {steps} sigmas (one per step, without the final 0)") from None
