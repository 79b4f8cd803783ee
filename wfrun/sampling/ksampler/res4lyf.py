"""RES4LYF's RES samplers as KSampler runs them when picked by name (``res_2s``, ``res_3s``, …).

The RES4LYF pack appends ``res_2m``, ``res_3m``, ``res_2s``, ``res_3s``, ``res_5s``,
``res_6s``, their ``_ode`` forms, ``deis_2m``/``deis_3m`` (and ``_ode``) and ``rk_beta`` to
ComfyUI's sampler list; each name calls the pack's ``sample_rk_beta`` with only
``rk_type`` set (``_ode``: also ``eta = eta_substep = 0``), so everything else is that
function's defaults. This module reproduces that call for the RES family, from the pack
as of 2025-08 (``beta/rk_sampler_beta.py`` unchanged 2025-07-08 … 2025-10-26, the months
the shared Wan 2.2 workflows were saved in). What those defaults make it do on a flow
(CONST) model, with no guides:

Schedule. A schedule ending in 0 gets the model's ``sigma_min`` inserted before the 0
(or its last sigma raised to ``sigma_min`` when below it; left alone within 1e-4 above
it); consecutive duplicates are dropped. Every step but the one to 0 is a RES step; when
the step before 0 ended exactly on ``sigma_min``, one more model call replaces ``x`` by
its x0 prediction. All of it runs in float64 (the model sees float64 inputs).

Step (``x_0`` at ``sigma``, to ``sigma_next``). Time is ``t = -log(sigma)``,
``h = log(sigma / sigma_next)``; the model's x0 prediction ``D`` enters as
``D - x_0``. Stage ``i`` (node ``c_i``, sigma ``sigma * exp(-c_i h)``) starts from
``x_i = x_0 + h * sum_j a_ij (D_j - x_0)`` and the step ends at
``x_0 + h * sum_j b_j (D_j - x_0)``: an explicit exponential Runge-Kutta method for
``dx/dt = D - x`` (Hochbruck & Ostermann 2005, "RES" of Zhang et al. 2023,
arXiv 2308.02157), whose weights are phi functions ``phi_k(-c h)``:

- ``res_2s`` (c = 0, 1/2): ``a_21 = c2 phi_1(-c2 h)``, ``b_2 = phi_2(-h)/c2``,
  ``b_1 = phi_1(-h) - b_2``;
- ``res_3s`` (c = 0, 1/2, 1): ``gamma = (3 c3^3 - 2 c3) / (c2 (2 - 3 c2))``,
  ``a_32 = gamma c2 phi_2(-c2 h) + c3^2/c2 phi_2(-c3 h)``,
  ``a_31 = c3 phi_1(-c3 h) - a_32``, ``b_3 = phi_2(-h)/(gamma c2 + c3)``,
  ``b_2 = gamma b_3``, ``b_1 = phi_1(-h) - b_2 - b_3``;
- ``res_2m`` / ``res_3m``: the same tableaux with the earlier steps' x0 predictions as
  the later stages (``c2 = -(t - t_prev)/h``, ``c3 = -(t - t_prev2)/h``): one model call a
  step. The first 2 (``res_2m``) or 3 (``res_3m``) steps are ``res_2s`` / ``res_3s``; a
  step with ``h >= 1`` is ``res_2s`` / ``res_3s`` too, or, below sigma 0.1, the pack's
  "euler" (``x_0 + h (D - x_0)``, its one-stage tableau in this exponential time).

Noise (not in the ``_ode`` forms): ``eta = eta_substep = 0.5``, noise mode "hard",
Gaussian noise. After a stage's update to ``s = sigma * exp(-c h)`` (all stages but the
last) and after the step (to ``sigma_next``), the deterministic point is split as
``D' + s*e`` with ``e = (x_0 - x_s) / (sigma - s)``, ``D' = x_0 - sigma e``, and rebuilt as
``alpha (D' + s_down e) + s_up n`` with ``s_up = eta s``,
``alpha = 1 - s + sqrt(s^2 - s_up^2)``, ``s_down = sqrt(s^2 - s_up^2) / alpha`` (the flow
ancestral split with RES4LYF's ``sigma_max - s`` signal term, ``sigma_max`` = 1). ``n`` is
drawn in float64 on the latent's device from a generator seeded ``-1`` for the steps and
``9999`` for the stages (the pack's ``noise_seed`` default -1 reaches the generator as
it is, whatever KSampler's seed: RES4LYF's step noise does not follow the seed), each
draw standardised over the whole tensor, then per ``[..., H, W]`` slice (mean 0, std 1).

"Bongmath" (on by default): after a stage's noise, while ``sigma > 0.03``,
``h < 0.5`` and the stage's sigma is above ``sigma_min``, ``x_0`` is replaced by the
start point from which that stage's deterministic update would have landed on the noised
point: ``x_0 = (x_{i+1} - h sum_j a_{i+1,j} D_j) / (1 - h sum_j a_{i+1,j})``. The pack
finds it by 100 fixed-point sweeps (contraction factor ``1 - exp(-c h) < 1``); here it is
solved directly, equal to rounding. The rest of the step then uses that ``x_0``.

Differences from the pack, on purpose: the result leaves in the latent's dtype (the pack
returns float64); the per-step ``callback`` is called once per step (the pack adds a
last preview call); RES4LYF's other options (guides, implicit steps, overshoot, noise
types, ``extra_options``) cannot be set through a plain KSampler and are not here.
``res_5s``, ``res_6s``, ``deis_*`` and ``rk_beta`` are not implemented (see
:data:`NOT_IMPLEMENTED`).

A caller that sets the pack's sampler options itself (RES4LYF's ClownsharKSampler) passes
:class:`ResOptions`: its ``eta`` / ``eta_substep``, the step-noise seed (the stage noise
is seeded ``noise_seed + MAX_STEPS``, as the pack seeds it), ``bongmath`` and
``steps_to_run`` (``-1``: all; otherwise at most that many RES steps, and the last model
call onto ``sigma_min`` only when every step ran, as ``sample_rk_beta`` does), and the
extra options of 2025-10 on: ``dtype`` (the pack's ``default_dtype``: float32 runs
everything, noise draws included, in float32), ``skip_final_model_call`` (the last
denoise onto ``sigma_min`` becomes ``x - sigma_min * eps`` with ``eps`` the last step's
deterministic slope ``(x_0 - x_next) / (sigma - sigma_next)``, the pack's
``calculate_denoised`` on its last ``eps``, instead of a model call),
``extra_initial_steps`` (multistep: the first ``stages - 1 + N`` steps are single-step;
the default 1 is the rule above) and ``multistep_fallback`` ("ddim": one stage weighted
``phi_1(-h)``; "euler") for multistep steps with ``h >= 1``.

``sampler_mode`` "resample"/"unsample" (the pack's SharkSampler pads the schedule with
zeros and the sampler reads them, with the latent's ``state_info``, to pick its schedule
and start: :func:`mode_schedule`): the same steps run on that schedule, rising ones
included (``h < 0``: the exponential integrator run backwards, RES4LYF's inversion), from
the state's latent and history when there is one; bongmath is skipped on step 0 of a
padded schedule, as in the pack.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import torch

#: The pack's ``MAX_STEPS``: the stage-noise seed is the step-noise seed plus this.
MAX_STEPS = 10000
#: The pack's default ``noise_seed``; it reaches the noise generator unchanged.
STEP_NOISE_SEED = -1


@dataclass(frozen=True)
class ResVariant:
    """One sampler name: its stage count, whether it reuses earlier steps, and its noise."""

    stages: int
    multistep: bool
    eta: float
    eta_substep: float


_SDE_ETA = 0.5
#: Sampler names RES4LYF adds to KSampler that :func:`sample_res` runs.
RES_SAMPLERS: dict[str, ResVariant] = {
    "res_2m": ResVariant(2, True, _SDE_ETA, _SDE_ETA),
    "res_3m": ResVariant(3, True, _SDE_ETA, _SDE_ETA),
    "res_2s": ResVariant(2, False, _SDE_ETA, _SDE_ETA),
    "res_3s": ResVariant(3, False, _SDE_ETA, _SDE_ETA),
    "res_2m_ode": ResVariant(2, True, 0.0, 0.0),
    "res_3m_ode": ResVariant(3, True, 0.0, 0.0),
    "res_2s_ode": ResVariant(2, False, 0.0, 0.0),
    "res_3s_ode": ResVariant(3, False, 0.0, 0.0),
}

#: Names RES4LYF adds to KSampler that wfrun does not run, and why.
NOT_IMPLEMENTED: dict[str, str] = {
    **{name: "RES4LYF's 5- and 6-stage RES tableaux are not ported"
       for name in ("res_5s", "res_6s", "res_5s_ode", "res_6s_ode")},
    **{name: "RES4LYF's DEIS multistep samplers are not ported"
       for name in ("deis_2m", "deis_3m", "deis_2m_ode", "deis_3m_ode")},
    "rk_beta": "RES4LYF's general rk_beta sampler is not ported",
    "rk": "RES4LYF's legacy rk sampler is not ported",
    "legacy_rk": "RES4LYF's legacy rk sampler is not ported",
}

#: The names in the order RES4LYF's list shows them (each inserted right after uni_pc_bh2,
#: so the last registered comes first; its legacy module registers ``rk`` and ``legacy_rk``).
RES4LYF_SAMPLER_NAMES: tuple[str, ...] = tuple(reversed((
    "res_2m", "res_3m", "res_2s", "res_3s", "res_5s", "res_6s",
    "res_2m_ode", "res_3m_ode", "res_2s_ode", "res_3s_ode", "res_5s_ode", "res_6s_ode",
    "deis_2m", "deis_3m", "deis_2m_ode", "deis_3m_ode", "rk_beta", "rk", "legacy_rk",
)))

@dataclass(frozen=True)
class ResOptions:
    """Settings of ``sample_rk_beta`` a RES4LYF node may change (see the module docs)."""

    eta: float = _SDE_ETA
    eta_substep: float = _SDE_ETA
    noise_seed: int = -1
    bongmath: bool = True
    steps_to_run: int = -1
    #: ``default_dtype``: the precision of the whole run, its noise draws included.
    dtype: torch.dtype = torch.float64
    #: ``skip_final_model_call``: end on ``x - sigma_min * eps`` (the last step's
    #: deterministic slope) instead of one more model call at ``sigma_min``.
    skip_final_model_call: bool = False
    #: ``multistep_extra_initial_steps``: single-step starts beyond the history a
    #: multistep method needs.
    extra_initial_steps: int = 1
    #: ``multistep_fallback_sampler`` ("" keeps the pack's choice; "ddim" or "euler"):
    #: the tableau a multistep method falls back to on a step with ``h >= 1``.
    multistep_fallback: str = ""
    #: Where an earlier run stopped (the pack's ``state_info``), read in "resample" and
    #: "unsample" modes (:func:`mode_schedule`): the run starts from its latent.
    resume: "ResState | None" = None
    #: The pack's ``sampler_mode``: "standard", "resample" or "unsample" (module docs of
    #: :func:`mode_schedule`).
    sampler_mode: str = "standard"
    #: The schedule exactly as the node hands it to the sampler (float64, with the mode's
    #: padding zeros); the ``sigmas`` argument is then only its float32 copy.
    schedule: torch.Tensor | None = None
    #: Called once at the end with the run's :class:`ResState` (the pack's ``state_info_out``).
    keep_state: Callable[["ResState"], None] | None = None


@dataclass(frozen=True)
class ResState:
    """Where a RES run stopped, for RES4LYF's chained samplers (its ``state_info``).

    ``sigmas`` is the prepared schedule (``sigmas_scheduled``), ``end_step`` the index of
    the next step to run, ``raw_x`` the sampler-space latent there (before the cast to the
    latent's dtype), ``history`` the earlier steps' x0 predictions (``data_prev_``) and
    ``step_rng`` / ``stage_rng`` the noise generators' states (``last_rng``,
    ``last_rng_substep``). ``completed``: the run reached the end of its schedule.
    """

    sigmas: torch.Tensor
    end_step: int
    raw_x: torch.Tensor
    history: tuple[torch.Tensor, ...]
    step_rng: torch.Tensor | None
    stage_rng: torch.Tensor | None
    completed: bool
    #: The mode the run was in, and the sigma its last step reached (the pack's
    #: ``sampler_mode`` and ``sigma_next``): a later run looks its start up by them.
    sampler_mode: str = "standard"
    sigma_next: torch.Tensor | None = None


# --- phi functions and tableaux -----------------------------------------------------------

_SERIES_BELOW = 0.5


def phi(j: int, z: float) -> float:
    """``phi_j(z) = (e^z - sum_{k<j} z^k/k!) / z^j`` (``phi_0 = e^z``), accurate near 0.

    For ``|z| < 0.5`` the Taylor series ``sum_k z^k/(k+j)!`` (no cancellation); otherwise
    the recurrence ``phi_j = (phi_{j-1} - 1/(j-1)!) / z`` from ``phi_0 = e^z``.
    """
    if j < 0:
        raise ValueError("phi_j needs j >= 0")
    if j == 0:
        return math.exp(z)
    if abs(z) < _SERIES_BELOW:
        total, term, k = 0.0, 1.0 / math.factorial(j), 0
        while True:
            total += term
            k += 1
            term *= z / (k + j)
            if abs(term) < 1e-18 * abs(total):
                return total + term
    value = math.exp(z)
    for k in range(1, j + 1):
        value = (value - 1.0 / math.factorial(k - 1)) / z
    return value


@dataclass(frozen=True)
class Tableau:
    """An explicit exponential RK step: ``a`` (stage rows), ``b`` (weights), ``c`` (nodes)."""

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]


def res_2s_tableau(h: float, c2: float = 0.5) -> Tableau:
    """Second-order RES: two stages at nodes 0 and ``c2`` (RES4LYF's ``res_2s``)."""
    b2 = phi(2, -h) / c2
    return Tableau(a=((0.0, 0.0), (c2 * phi(1, -c2 * h), 0.0)), b=(phi(1, -h) - b2, b2), c=(0.0, c2))


def res_3s_tableau(h: float, c2: float = 0.5, c3: float = 1.0) -> Tableau:
    """Three-stage RES (RES4LYF's ``res_3s``): the ``gamma`` family of weights on phi_2."""
    gamma = (3 * c3 ** 3 - 2 * c3) / (c2 * (2 - 3 * c2))
    a32 = gamma * c2 * phi(2, -c2 * h) + (c3 ** 2 / c2) * phi(2, -c3 * h)
    b3 = phi(2, -h) / (gamma * c2 + c3)
    b2 = gamma * b3
    return Tableau(a=((0.0, 0.0, 0.0), (c2 * phi(1, -c2 * h), 0.0, 0.0), (c3 * phi(1, -c3 * h) - a32, a32, 0.0)),
                   b=(phi(1, -h) - b2 - b3, b2, b3), c=(0.0, c2, c3))


EULER = Tableau(a=((0.0,),), b=(1.0,), c=(0.0,))

#: ``multistep_fallback_sampler`` values wfrun runs (the pack accepts any of its names).
FALLBACK_SAMPLERS = ("", "ddim", "euler")


def ddim_tableau(h: float) -> Tableau:
    """The pack's exponential "ddim": one stage weighted ``phi_1(-h)`` (exponential Euler)."""
    return Tableau(a=((0.0,),), b=(phi(1, -h),), c=(0.0,))


def step_tableau(variant: ResVariant, step: int, sigmas: torch.Tensor,
                 options: ResOptions | None = None) -> tuple[Tableau, int]:
    """The tableau RES4LYF uses at ``step`` and how many of its stages are earlier steps'."""
    options = options or ResOptions()
    sigma, sigma_next = sigmas[step], sigmas[step + 1]
    h = float(-torch.log(sigma_next / sigma))
    single = res_2s_tableau if variant.stages == 2 else res_3s_tableau
    if not variant.multistep:
        return single(h), 0
    if h >= 1.0:
        if options.multistep_fallback == "ddim":
            return ddim_tableau(h), 0
        if options.multistep_fallback == "euler":
            return EULER, 0
        return (EULER if sigma < 0.1 else single(h)), 0
    if step < variant.stages - 1 + options.extra_initial_steps:  # the pack's "initial steps"
        return single(h), 0
    c2 = float(-(-torch.log(sigmas[step] / sigmas[step - 1])) / h)
    if variant.stages == 2:
        return res_2s_tableau(h, c2), 1
    c3 = float(-(-torch.log(sigmas[step] / sigmas[step - 2])) / h)
    return res_3s_tableau(h, c2, c3), 2


# --- schedule and noise -------------------------------------------------------------------

def prepare_sigmas(sigmas: torch.Tensor, sigma_min: torch.Tensor) -> torch.Tensor:
    """RES4LYF's ``prepare_sigmas`` for a KSampler schedule (see the module docs)."""
    if len(sigmas) == 0:
        return sigmas
    keep = torch.cat([sigmas.new_ones(1, dtype=torch.bool), torch.diff(sigmas) != 0])
    sigmas = sigmas[keep].clone()
    if len(sigmas) >= 2 and sigmas[-1] == 0:
        if sigmas[-2] < sigma_min:
            sigmas[-2] = sigma_min
        elif (sigmas[-2] - sigma_min).abs() > 1e-4:
            sigmas = torch.cat([sigmas[:-1], sigma_min.reshape(1), sigmas[-1:]])
    return sigmas


class ModeScheduleError(ValueError):
    """The pack fails on this schedule/state combination (its own error, not a choice)."""


def _pack_prepare(sigmas: torch.Tensor, sigma_min: torch.Tensor, mode: str) -> tuple[torch.Tensor, bool]:
    """RES4LYF's ``RK_NoiseSampler.prepare_sigmas`` (81fe5f4d) with its padding zeros: a
    leading 0 (the "do not add noise" flag of resample/unsample) is cut, and with it a
    trailing 0; ``unsample`` is that flag unless the mode is "standard"."""
    from_zero = False
    unsample = bool(sigmas[0] == 0)
    if unsample:
        from_zero = bool(sigmas[-1] == 0)
        sigmas = sigmas[1:]
        if len(sigmas) and sigmas[-1] == 0:
            sigmas = sigmas[:-1]
    if mode == "standard":
        unsample = False
    if len(sigmas) < 2:
        raise ModeScheduleError(f"the schedule has {len(sigmas)} sigma(s) left after the pack strips its "
                                "padding zeros (the pack fails on it)")
    keep = torch.cat([sigmas.new_ones(1, dtype=torch.bool), torch.diff(sigmas) != 0])
    sigmas = sigmas[keep].clone()
    if sigmas[-1] == 0:
        if sigmas[-2] < sigma_min:
            sigmas[-2] = sigma_min
        elif (sigmas[-2] - sigma_min).abs() > 1e-4:
            sigmas = torch.cat([sigmas[:-1], sigma_min.reshape(1), sigmas[-1:]])
    elif from_zero and not torch.isclose(sigmas[0], sigma_min):
        sigmas = torch.cat([sigma_min.reshape(1), sigmas])
    return sigmas, unsample


def mode_schedule(sigmas: torch.Tensor, sigma_min: torch.Tensor, mode: str,
                  state: "ResState | None") -> tuple[torch.Tensor, int, bool]:
    """The prepared schedule, the start step and the pack's ``UNSAMPLE`` flag for a
    ``sampler_mode`` and the state the latent carries (``sample_rk_beta``, 81fe5f4d).

    ``sigmas`` is the node's schedule as SharkSampler builds it: "unsample" flips the
    schedule and appends 0, "resample" puts a 0 before and after it (so ComfyUI adds no
    noise: the latent enters as it is). Then, with a state (its latent is the start):

    - an unfinished run (not completed, ``0 < end_step < len(state sigmas) - 1``)
      continued the other way (standard/resample -> unsample on a falling schedule,
      unsample -> resample on a rising one) takes the state's schedule reversed, from
      ``len - 1 - end_step``; a finished unsample continued by resample starts at 0;
    - standard/resample -> resample starts at ``end_step`` on the state's own schedule.

    The schedule is then prepared (padding zeros cut, ``sigma_min`` before a final 0, or,
    for a schedule from 0 upwards, ``sigma_min`` as its start); a rising schedule that came
    with a leading 0 gets the 0 back and starts one step later (at 1 from 0). Last, with a
    state, the start is where the new schedule equals the sigma the state's run reached.
    """
    start = 0
    if state is not None and mode in ("resample", "unsample"):
        if len(sigmas) < 3:
            raise ModeScheduleError("the pack compares the schedule's second and third sigma; this one has fewer")
        last = len(state.sigmas) - 1
        if not state.completed and state.end_step not in (0, -1) and state.end_step < last:
            if state.sampler_mode in ("standard", "resample") and mode == "unsample" and sigmas[2] < sigmas[1]:
                sigmas = torch.flip(state.sigmas, dims=[0])
                start = len(sigmas) - 1 - state.end_step
            if state.sampler_mode == "unsample" and mode == "resample" and sigmas[2] > sigmas[1]:
                sigmas = torch.flip(state.sigmas, dims=[0])
                start = len(sigmas) - 1 - state.end_step
        elif state.sampler_mode == "unsample" and mode == "resample":
            start = 0
        if state.sampler_mode in ("standard", "resample") and mode == "resample":
            start = state.end_step if state.end_step != -1 else 0
            if start > 0:
                sigmas = state.sigmas.clone()
    sigmas = sigmas.to(dtype=sigma_min.dtype, device=sigma_min.device)
    given_first = sigmas[0]
    sigmas, unsample = _pack_prepare(sigmas, sigma_min, mode)
    if unsample and given_first == 0 and sigmas[0] != 0 and len(sigmas) > 2 and sigmas[1] < sigmas[2]:
        sigmas = torch.cat([sigmas.new_zeros(1), sigmas])
        start = 1 if start == 0 else start - 1
    if state is not None and mode in ("resample", "unsample") and state.sigma_next is not None:
        found = (sigmas == state.sigma_next.to(sigmas)).nonzero().flatten()
        if len(found) > 1:
            raise ModeScheduleError(f"the sigma the earlier run reached ({float(state.sigma_next):g}) occurs "
                                    f"{len(found)} times in the new schedule (the pack fails on it)")
        if len(found) == 1:
            start = int(found.item())
    return sigmas, start, unsample


def hard_split(s: torch.Tensor, eta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise mode "hard" on a flow model: ``(alpha, s_down, s_up)`` for target sigma ``s``."""
    s_up = s * eta
    if s_up >= s:  # the pack's fallback when eta >= 1
        s_up = s * 0.9999 if eta >= 1 else s * eta
    residual = (s ** 2 - s_up ** 2) ** 0.5
    alpha = (1.0 - s) + residual
    s_down = residual / alpha
    return (torch.nan_to_num(alpha, 1.0), torch.nan_to_num(s_down, float(s)), torch.nan_to_num(s_up, 0.0))


class StandardNoise:
    """RES4LYF's Gaussian noise: float64 draws from one seeded generator, each standardised
    over the whole tensor, then per ``[..., H, W]`` slice."""

    def __init__(self, like: torch.Tensor, seed: int):
        self.shape, self.device, self.dtype = like.shape, like.device, like.dtype
        self.generator = torch.Generator(device=like.device)
        self.generator.manual_seed(seed)

    def __call__(self) -> torch.Tensor:
        noise = torch.randn(self.shape, dtype=self.dtype, device=self.device, generator=self.generator)
        noise = (noise - noise.mean()) / noise.std()
        return (noise - noise.mean(dim=(-2, -1), keepdim=True)) / noise.std(dim=(-2, -1), keepdim=True)


def swap_noise(x_0: torch.Tensor, x_s: torch.Tensor, sigma: torch.Tensor, s: torch.Tensor, eta: float,
               noise: StandardNoise) -> torch.Tensor:
    """Re-noise the deterministic point ``x_s`` (reached at ``s`` from ``x_0`` at ``sigma``)."""
    alpha, s_down, s_up = hard_split(s, eta)
    if s_up == 0 or s == 0:
        return x_s
    e = (x_0 - x_s) / (sigma - s)
    data = x_0 - sigma * e
    return alpha * (data + s_down * e) + s_up * noise()


# --- the sampler --------------------------------------------------------------------------

def sample_res(model, x: torch.Tensor, sigmas: torch.Tensor, ctx, *, variant: ResVariant,
               options: ResOptions | None = None) -> torch.Tensor:
    """RES4LYF's ``sample_rk_beta`` for a RES ``rk_type`` with its defaults, or with
    ``options`` (module docs)."""
    if options is None:
        options = ResOptions(eta=variant.eta, eta_substep=variant.eta_substep, noise_seed=STEP_NOISE_SEED)
    out_dtype = x.dtype
    x = x.to(options.dtype)
    sigma_min = ctx.ms.sigma_min.to(device=x.device, dtype=options.dtype)
    mode = options.sampler_mode
    resume = options.resume if mode in ("resample", "unsample") else None
    start, history, unsample = 0, [], False  # history: earlier steps' x0 predictions, newest first
    if resume is not None:  # the pack continues from the state's latent and history
        x = resume.raw_x.to(device=x.device, dtype=options.dtype)
        history = [h.to(device=x.device, dtype=options.dtype) for h in resume.history]
    if mode == "standard":
        sigmas = prepare_sigmas(sigmas.to(device=x.device, dtype=options.dtype), sigma_min)
    else:
        given = options.schedule if options.schedule is not None else sigmas
        state = None if resume is None else dataclasses.replace(
            resume, sigmas=resume.sigmas.to(device=x.device, dtype=options.dtype))
        sigmas, start, unsample = mode_schedule(given.to(device=x.device, dtype=options.dtype), sigma_min, mode,
                                                state)
    if len(sigmas) < 2:
        return x.to(out_dtype)
    ends_at_zero = bool(sigmas[-1] == 0)
    all_steps = len(sigmas) - 2 if ends_at_zero else len(sigmas) - 1
    left = max(0, all_steps - start)
    end = start + (left if options.steps_to_run < 0 else min(left, int(options.steps_to_run)))
    eta, eta_substep = float(options.eta), float(options.eta_substep)
    step_noise = StandardNoise(x, int(options.noise_seed))
    stage_noise = StandardNoise(x, int(options.noise_seed) + MAX_STEPS)
    if resume is not None and int(options.noise_seed) < 0:  # the pack continues its generators
        if resume.step_rng is not None:
            step_noise.generator.set_state(resume.step_rng)
        if resume.stage_rng is not None:
            stage_noise.generator.set_state(resume.stage_rng)
    s_in = x.new_ones([x.shape[0]])
    eps = None

    for step in range(start, end):
        sigma, sigma_next = sigmas[step], sigmas[step + 1]
        h = -torch.log(sigma_next / sigma)
        tableau, recycled = step_tableau(variant, step, sigmas, options)
        own = len(tableau.c) - recycled
        t = -torch.log(sigma)
        stage_sigmas = [torch.exp(-(t + h * c)) for c in tableau.c]  # the pack's sigma_fn(t_fn + h c)
        # the pack skips bongmath on step 0 of a padded (resample/unsample) schedule
        bong = options.bongmath and bool(sigma > 0.03) and bool(h < 0.5) and not (step == 0 and unsample)
        x_0 = x
        data: list[torch.Tensor] = [torch.zeros_like(x)] * len(tableau.c)
        for k in range(recycled):
            data[k + 1] = history[k]
        x_stage = x_0
        for i in range(own):
            data[i] = model(x_stage, stage_sigmas[i] * s_in)
            if i == 0:
                ctx.report(step, x, sigma, data[0])
            if i + 1 == own:
                break
            row = tableau.a[i + 1]
            x_stage = x_0 + h * sum(row[j] * (data[j] - x_0) for j in range(i + 1))
            if eta_substep:
                x_stage = swap_noise(x_0, x_stage, sigma, stage_sigmas[i + 1], eta_substep, stage_noise)
            if bong and stage_sigmas[i] > sigma_min:
                weight = h * sum(row[j] for j in range(i + 1))
                x_0 = (x_stage - h * sum(row[j] * data[j] for j in range(i + 1))) / (1 - weight)
        x_next = x_0 + h * sum(b * (d - x_0) for b, d in zip(tableau.b, data))
        eps = (x_0 - x_next) / (sigma - sigma_next)  # the step's slope, before its noise
        if eta:
            x_next = swap_noise(x_0, x_next, sigma, sigma_next, eta, step_noise)
        x = x_next
        history = [data[0]] + history[:2]

    if end == start:  # nothing ran: the pack hands the state on untouched
        if options.keep_state is not None and resume is not None:
            options.keep_state(resume)
        return x.to(out_dtype)
    if ends_at_zero and end == all_steps and sigmas[-2] == sigma_min:
        x = x - sigma_min * eps if options.skip_final_model_call else model(x, sigma_min * s_in)
    if options.keep_state is not None:
        options.keep_state(ResState(
            sigmas=sigmas.clone(), end_step=end, raw_x=x.clone(), history=tuple(history),
            step_rng=step_noise.generator.get_state(), stage_rng=stage_noise.generator.get_state(),
            completed=bool(ends_at_zero and end == all_steps and sigmas[-2] == sigma_min),
            sampler_mode=mode, sigma_next=sigmas[end].clone()))
    return x.to(out_dtype)
