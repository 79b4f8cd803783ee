"""ComfyUI's KSampler family (``ModelSamplingSD3``, ``KSampler``, ``KSamplerAdvanced``) as a pure library.

Model-agnostic: the model is a ``predict(x, timestep, which) -> raw output`` function the
caller supplies; nothing here loads weights or knows a channel count. Modules, one job each:

- :mod:`.model_sampling`: :class:`FlowSampling` (ComfyUI's ``ModelSamplingDiscreteFlow`` +
  ``CONST``): sigma/timestep maps, sigma table, ``percent_to_sigma``, noise scaling, x0 from
  a velocity; Wan's default shift :data:`WAN_DEFAULT_SHIFT` (8.0, ComfyUI's
  ``supported_models`` for every Wan 2.1/2.2 config) and ModelSamplingSD3's widget default
  :data:`MODEL_SAMPLING_SD3_DEFAULT_SHIFT` (3.0).
- :mod:`.schedulers`: :data:`SCHEDULER_NAMES`, :func:`scheduler_sigmas`, KSampler's denoise
  rule (:func:`ksampler_sigmas`) and KSamplerAdvanced's windows (:func:`advanced_sigmas`).
- :mod:`.noise`: :func:`prepare_noise` (the seed's initial noise) and the per-step noise.
- :mod:`.guidance`: :func:`cfg_denoiser` (CFG, the cfg1 shortcut, pre/post-cfg hooks).
- :mod:`.samplers`, :mod:`.uni_pc`, :mod:`.deis`: the sampler algorithms.
- :mod:`.run`: :data:`SAMPLER_NAMES` and :func:`sample` (one KSampler pass).

Interface::

    ms = FlowSampling(shift=8.0)                         # ModelSamplingSD3(shift) / Wan default
    sigmas = ksampler_sigmas(ms, "simple", 20, denoise=1.0, sampler_name="euler")
    sigmas = advanced_sigmas(ms, "simple", 20, start_at_step=0, end_at_step=10,
                             force_full_denoise=False, sampler_name="euler")
    noise = prepare_noise(latent, seed, batch_index=None, disable_noise=False)
    den = cfg_denoiser(predict, cfg, ms, post_cfg=(hook, ...), pre_cfg=(), cfg_function=None)
    out = sample(den, latent, noise, sigmas, "euler", seed=seed, ms=ms,
                 callback=None, disable_noise=False, denoise_mask=None, latent_format=None)

``predict(x, timestep, which)``: ``x`` the noisy latent, ``timestep`` the per-sample model
timestep (``sigma * 1000``), ``which`` ``"cond"`` or ``"uncond"`` (or whatever a hook asks
for through ``args["calc_denoised"]``); it returns the raw model output (Wan: velocity), or
None when no conditioning entry applies at that sigma (a zero data prediction, see :mod:`.guidance`).

KSampler node = ``sample(den, latent, prepare_noise(latent, seed), ksampler_sigmas(ms,
scheduler, steps, denoise, sampler_name), sampler_name, seed=seed, ms=ms)``.
KSamplerAdvanced = the same with :func:`advanced_sigmas` and ``disable_noise = add_noise ==
"disable"``; its ``noise_seed`` is the seed. Two KSamplerAdvanced halves (0→k with leftover
noise, then k→end without adding noise) equal one full run for deterministic samplers.

Implemented samplers: :data:`IMPLEMENTED_SAMPLERS` (all of ComfyUI's list but those in
:data:`NOT_IMPLEMENTED`: ``dpm_fast``, ``dpm_adaptive``, ``sa_solver``, ``sa_solver_pece``,
which raise :class:`SamplerNotAvailableError` naming the sampler). All nine schedulers are
implemented; an unknown name raises :class:`UnknownSchedulerError`.

The lists also hold what the RES4LYF pack appends to them (many shared Wan 2.2 workflows
pick those names in core KSampler nodes): the schedulers ``bong_tangent`` and ``beta57``
(:mod:`.schedulers`), and its samplers (:mod:`.res4lyf`: ``res_2s``, ``res_3s``, ``res_2m``,
``res_3m`` and their ``_ode`` forms run; ``res_5s``, ``res_6s``, ``deis_*``, ``rk_beta``,
``rk``, ``legacy_rk`` raise :class:`SamplerNotAvailableError`). A schedule a scheduler
cannot make for that step count raises :class:`SchedulerStepsError`.

Differences from ComfyUI, on purpose: the result keeps the latent's dtype (ComfyUI's
latents are always float32, and so is the result there); model outputs are cast to the
latent's dtype (ComfyUI: float32); ``denoise_mask`` must come already shaped for the latent
(ComfyUI's ``prepare_mask`` resizing is the caller's); the per-step ``callback`` gets
``(step, total)`` only; cond and uncond are two ``predict`` calls (ComfyUI may batch them).
"""

from .guidance import CFGDenoiser, cfg_denoiser
from .model_sampling import (FLOW_MULTIPLIER, MODEL_SAMPLING_SD3_DEFAULT_SHIFT, WAN_DEFAULT_SHIFT, FlowSampling,
                             time_snr_shift)
from .noise import prepare_noise
from .run import (IMPLEMENTED_SAMPLERS, NOT_IMPLEMENTED, SAMPLER_NAMES, LatentFormat, SamplerNotAvailableError,
                  check_sampler, sample)
from .schedulers import (DISCARD_PENULTIMATE_SIGMA_SAMPLERS, SCHEDULER_NAMES, SchedulerStepsError,
                         UnknownSchedulerError, advanced_sigmas, ksampler_sigmas, scheduler_sigmas)

__all__ = [
    "CFGDenoiser", "cfg_denoiser",
    "FLOW_MULTIPLIER", "MODEL_SAMPLING_SD3_DEFAULT_SHIFT", "WAN_DEFAULT_SHIFT", "FlowSampling", "time_snr_shift",
    "prepare_noise",
    "IMPLEMENTED_SAMPLERS", "NOT_IMPLEMENTED", "SAMPLER_NAMES", "LatentFormat", "SamplerNotAvailableError",
    "check_sampler", "sample",
    "DISCARD_PENULTIMATE_SIGMA_SAMPLERS", "SCHEDULER_NAMES", "SchedulerStepsError", "UnknownSchedulerError",
    "advanced_sigmas", "ksampler_sigmas", "scheduler_sigmas",
]
