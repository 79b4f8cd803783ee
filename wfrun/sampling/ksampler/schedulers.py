"""The ``scheduler`` options of ComfyUI's KSampler, and the step windows of KSampler/KSamplerAdvanced.

Every scheduler returns ``steps + 1`` float32 sigmas ending in 0 (``ddim_uniform`` and
``beta`` may return fewer when table picks coincide, as ComfyUI's do). They read the model's
:class:`~.model_sampling.FlowSampling`, so a shift changes them exactly as in ComfyUI:

- ``simple``: ``steps`` entries picked evenly from the top of the 1000-entry sigma table
  (index ``-(1 + int(i * 1000/steps))``), then 0.
- ``normal``: timesteps ``linspace(t(sigma_max), t(sigma_min), steps)`` mapped to sigmas, then
  0 (when the last would already be 0 it takes one step more instead of appending).
- ``sgm_uniform``: like ``normal`` but over ``steps + 1`` points with the last dropped.
- ``karras``: Karras et al. (2022) ``rho = 7`` ramp between ``sigma_min`` and ``sigma_max``.
- ``exponential``: log-linear between ``sigma_max`` and ``sigma_min``.
- ``ddim_uniform``: every ``1000 // steps``-th table entry from index 1, reversed, after a 0.
- ``beta``: table entries at ``rint(beta.ppf(1 - linspace(0, 1, steps, endpoint=False), 0.6, 0.6) * 999)``,
  duplicates dropped (Lee et al. 2024).
- ``linear_quadratic``: Mochi's schedule (linear to 0.025 over half the steps, then quadratic),
  scaled by ``sigma_max``.
- ``kl_optimal``: ``tan`` of a linear blend of ``atan(sigma_max)`` and ``atan(sigma_min)``.

Two more come from the RES4LYF pack, which appends them to ComfyUI's list when it loads
(many shared Wan 2.2 workflows pick them in a core KSampler):

- ``bong_tangent``: two arctangent ramps, 1 → 0.5 then 0.5 → 0, joined at 60% of
  ``steps + 2`` points (see :func:`bong_tangent`). It ignores the model's sampling entirely
  (no shift, no sigma table): the schedule always runs from 1.0 to 0.0.
- ``beta57``: ``beta`` with alpha 0.5 and beta 0.7 instead of 0.6/0.6.

``karras``, ``exponential`` and ``kl_optimal`` only see ``float(sigma_min)`` and
``float(sigma_max)`` (ComfyUI calls them that way), the others the whole table.

KSampler's ``denoise`` (:func:`ksampler_sigmas`): for ``denoise < 1`` ComfyUI builds the
schedule for ``int(steps / denoise)`` steps and keeps its last ``steps + 1`` sigmas; for
``denoise <= 0`` the schedule is empty and the latent comes back untouched. Samplers in
:data:`DISCARD_PENULTIMATE_SIGMA_SAMPLERS` (``dpm_2``, ``dpm_2_ancestral``, ``uni_pc``,
``uni_pc_bh2``) get a schedule for one step more with its penultimate sigma removed.

KSamplerAdvanced (:func:`advanced_sigmas`): the full schedule is cut at ``end_at_step``
(its last sigma set to 0 unless ``return_with_leftover_noise`` is enabled, i.e.
``force_full_denoise``), then started at ``start_at_step``; a start at or past the last step
gives an empty schedule (the latent is returned unchanged).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .model_sampling import FlowSampling

#: ComfyUI's own KSampler scheduler list, in its order.
COMFY_SCHEDULER_NAMES: tuple[str, ...] = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
)
#: What RES4LYF appends to that list when it loads (``bong_tangent`` since 2025-05;
#: ``beta57``, long offered by its own nodes, registered for KSampler since 2026-06).
RES4LYF_SCHEDULER_NAMES: tuple[str, ...] = ("bong_tangent", "beta57")
#: Every scheduler name KSampler accepts here: ComfyUI's list as RES4LYF extends it.
SCHEDULER_NAMES: tuple[str, ...] = COMFY_SCHEDULER_NAMES + RES4LYF_SCHEDULER_NAMES
#: Samplers for which KSampler drops the penultimate sigma of a one-step-longer schedule.
DISCARD_PENULTIMATE_SIGMA_SAMPLERS = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


class UnknownSchedulerError(ValueError):
    """A scheduler name ComfyUI's KSampler does not offer."""


class SchedulerStepsError(ValueError):
    """A step count the named scheduler cannot make a schedule for."""


def _with_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def simple(ms: FlowSampling, steps: int) -> torch.Tensor:
    stride = len(ms.sigmas) / steps
    picked = [float(ms.sigmas[-(1 + int(i * stride))]) for i in range(steps)]
    return torch.tensor(picked + [0.0], dtype=torch.float32)


def normal(ms: FlowSampling, steps: int, sgm: bool = False) -> torch.Tensor:
    start, end = ms.timestep(ms.sigma_max), ms.timestep(ms.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(end)), 0, abs_tol=1e-5):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    values = [float(ms.sigma(t)) for t in timesteps]
    if append_zero:
        values.append(0.0)
    return torch.tensor(values, dtype=torch.float32)


def sgm_uniform(ms: FlowSampling, steps: int) -> torch.Tensor:
    return normal(ms, steps, sgm=True)


def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _with_zero((hi + ramp * (lo - hi)) ** rho)


def exponential(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    return _with_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def ddim_uniform(ms: FlowSampling, steps: int) -> torch.Tensor:
    table = ms.sigmas
    if math.isclose(float(table[1]), 0, abs_tol=1e-5):
        steps += 1
        values: list[float] = []
    else:
        values = [0.0]
    stride = max(len(table) // steps, 1)
    values += [float(table[i]) for i in range(1, len(table), stride)]
    return torch.tensor(values[::-1], dtype=torch.float32)


def beta(ms: FlowSampling, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    import scipy.stats

    last = len(ms.sigmas) - 1
    quantiles = 1 - np.linspace(0, 1, steps, endpoint=False)
    indices = np.rint(scipy.stats.beta.ppf(quantiles, alpha, beta_) * last)
    values: list[float] = []
    previous = -1.0
    for t in indices:
        if t != previous:
            values.append(float(ms.sigmas[int(t)]))
        previous = t
    return torch.tensor(values + [0.0], dtype=torch.float32)


def linear_quadratic(ms: FlowSampling, steps: int, threshold_noise: float = 0.025,
                     linear_steps: int | None = None) -> torch.Tensor:
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        if linear_steps is None:
            linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quad_coef = step_diff / (linear_steps * quadratic_steps ** 2)
        lin_coef = threshold_noise / linear_steps - 2 * step_diff / (quadratic_steps ** 2)
        const = quad_coef * (linear_steps ** 2)
        quadratic = [quad_coef * i ** 2 + lin_coef * i + const for i in range(linear_steps, steps)]
        schedule = [1.0 - v for v in linear + quadratic + [1.0]]
    return torch.tensor(schedule, dtype=torch.float32) * ms.sigma_max.cpu()


def kl_optimal(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    frac = torch.arange(n, dtype=torch.float).div_(n - 1)
    out = frac.new_zeros(n + 1)
    out[:-1] = (frac * math.atan(sigma_min) + (1 - frac) * math.atan(sigma_max)).tan_()
    return out


def beta57(ms: FlowSampling, steps: int) -> torch.Tensor:
    """RES4LYF's ``beta57``: ComfyUI's beta schedule with alpha 0.5, beta 0.7."""
    return beta(ms, steps, alpha=0.5, beta_=0.7)


def _arctan_ramp(count: int, slope: float, pivot: int, high: float, low: float) -> list[float]:
    """``count`` points of a falling arctangent centred on index ``pivot``, rescaled so the
    first is ``high`` and the last ``low`` (python floats, the pack's float64 arithmetic)."""
    def unit(k: float) -> float:  # 1 far before the pivot, 0 far after it
        return ((2 / math.pi) * math.atan(-slope * (k - pivot)) + 1) / 2

    top, bottom = unit(0), unit(count - 1)
    span = top - bottom
    if span == 0:
        raise SchedulerStepsError("bong_tangent cannot make a ramp of one point")
    return [(unit(k) - bottom) * (1 / span) * (high - low) + low for k in range(count)]


def bong_tangent(ms: FlowSampling, steps: int, start: float = 1.0, middle: float = 0.5, end: float = 0.0,
                 pivot_1: float = 0.6, pivot_2: float = 0.6, slope_1: float = 0.2,
                 slope_2: float = 0.2) -> torch.Tensor:
    """RES4LYF's ``bong_tangent`` (``sigmas.py``), ``steps + 1`` float32 sigmas from 1 to 0.

    Over ``n = steps + 2`` points: the first ramp (``start`` → ``middle``) takes the first
    ``int(n * (pivot_1 + pivot_2) / 2)`` points and loses its last one, the second
    (``middle`` → ``end``) the rest; the ramps' slopes are ``slope / (n / 40)``, their
    pivots ``int(n * pivot)`` (the second counted from its own start). ``ms`` is not read
    (RES4LYF takes it and ignores it). One step leaves a one-point ramp, where RES4LYF
    divides by zero; here that raises :class:`SchedulerStepsError`.
    """
    del ms
    n = steps + 2
    midpoint = int((n * pivot_1 + n * pivot_2) / 2)
    second_len = n - midpoint
    first_len = n - second_len
    first = _arctan_ramp(first_len, slope_1 / (n / 40), int(n * pivot_1), start, middle)
    second = _arctan_ramp(second_len, slope_2 / (n / 40), int(n * pivot_2) - first_len, middle, end)
    return torch.tensor(first[:-1] + second, dtype=torch.float32)


#: name -> (function, whether it takes the model sampling object or only sigma_min/max).
_HANDLERS: dict[str, tuple[Callable[..., torch.Tensor], bool]] = {
    "simple": (simple, True),
    "sgm_uniform": (sgm_uniform, True),
    "karras": (karras, False),
    "exponential": (exponential, False),
    "ddim_uniform": (ddim_uniform, True),
    "beta": (beta, True),
    "normal": (normal, True),
    "linear_quadratic": (linear_quadratic, True),
    "kl_optimal": (kl_optimal, False),
    "bong_tangent": (bong_tangent, True),
    "beta57": (beta57, True),
}
assert tuple(_HANDLERS) == SCHEDULER_NAMES


def scheduler_sigmas(ms: FlowSampling, scheduler: str, steps: int) -> torch.Tensor:
    """ComfyUI's ``calculate_sigmas``: the named schedule for ``steps`` steps (float32, CPU)."""
    try:
        handler, takes_ms = _HANDLERS[scheduler]
    except KeyError:
        raise UnknownSchedulerError(
            f"unknown KSampler scheduler {scheduler!r}; ComfyUI's KSampler (with RES4LYF's) offers: "
            + ", ".join(SCHEDULER_NAMES)) from None
    if takes_ms:
        return handler(ms, steps)
    return handler(n=steps, sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max))


def _full_schedule(ms: FlowSampling, scheduler: str, steps: int, sampler_name: str | None) -> torch.Tensor:
    discard = sampler_name in DISCARD_PENULTIMATE_SIGMA_SAMPLERS
    sigmas = scheduler_sigmas(ms, scheduler, steps + 1 if discard else steps)
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas


def ksampler_sigmas(ms: FlowSampling, scheduler: str, steps: int, denoise: float | None = 1.0,
                    sampler_name: str | None = None) -> torch.Tensor:
    """The sigmas KSampler runs: ``steps`` steps, or the tail of a longer schedule for ``denoise < 1``.

    ``sampler_name`` matters only for the samplers that drop a penultimate sigma.
    """
    if denoise is None or denoise > 0.9999:
        return _full_schedule(ms, scheduler, steps, sampler_name)
    if denoise <= 0.0:
        return torch.zeros(0, dtype=torch.float32)
    longer = _full_schedule(ms, scheduler, int(steps / denoise), sampler_name)
    return longer[-(steps + 1):]


def advanced_sigmas(ms: FlowSampling, scheduler: str, steps: int, start_at_step: int | None,
                    end_at_step: int | None, force_full_denoise: bool,
                    sampler_name: str | None = None, denoise: float | None = 1.0) -> torch.Tensor:
    """The sigmas KSamplerAdvanced runs for a ``[start_at_step, end_at_step]`` window.

    ``force_full_denoise`` is the node's ``return_with_leftover_noise == "disable"``.
    An empty result means: return the latent unchanged (no noise, no sampling).
    """
    sigmas = ksampler_sigmas(ms, scheduler, steps, denoise, sampler_name).clone()
    if end_at_step is not None and end_at_step < len(sigmas) - 1:
        sigmas = sigmas[:end_at_step + 1]
        if force_full_denoise:
            sigmas[-1] = 0
    if start_at_step is not None:
        if start_at_step < len(sigmas) - 1:
            sigmas = sigmas[start_at_step:]
        else:
            return sigmas[:0]
    return sigmas
