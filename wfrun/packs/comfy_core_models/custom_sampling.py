"""ComfyUI's custom-sampling nodes (``comfy_extras/nodes_custom_sampler.py``) on a Wan MODEL:
KSamplerSelect, BasicScheduler and SamplerCustom, on the same sampling as KSampler
(:func:`.ksampler_nodes.run_sampler`).

* KSamplerSelect gives a SAMPLER: here the :class:`SamplerChoice` naming one of KSampler's
  samplers (one wfrun implements: others are refused on ``sampler_name``).
* BasicScheduler gives SIGMAS (a 1-D float32 CPU tensor): the named schedule over the
  model's flow sigmas (its shift) for ``steps`` steps, or, with ``denoise`` below 1, the last
  ``steps + 1`` sigmas of a schedule of ``int(steps / denoise)`` steps; ``denoise`` 0 gives no
  sigmas. Unlike KSampler, it never drops the penultimate sigma for the samplers that do so
  (ComfyUI's ``calculate_sigmas`` without KSampler's adjustment).
* SamplerCustom samples ``latent_image`` along ``sigmas`` with the SAMPLER, CFG ``cfg``, noise
  from ``noise_seed`` (none with ``add_noise`` off), keeping a ``noise_mask`` as KSampler does.
  Its second output, ``denoised_output``, is the last step's x0 prediction (out of the
  model's latent space), or the first output when no step ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.ksampler_nodes import SAMPLER_OOM_HINT, _check_names, run_sampler
from wfrun.packs.comfy_core_models.model_patches import check_model
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler.samplers import CFG_PP_SAMPLERS
from wfrun.sampling.ksampler.wrapped import unwrap


@dataclass(frozen=True)
class SamplerChoice:
    """A SAMPLER value: one of KSampler's samplers, by name."""

    sampler_name: str


@executor("KSamplerSelect")
def ksampler_select(ctx: ExecContext, sampler_name: Any, **_: Any) -> tuple:
    _check_names(sampler_name, None)
    return (SamplerChoice(sampler_name),)


def basic_sigmas(ms: ks.FlowSampling, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.zeros(0, dtype=torch.float32)
        total = int(steps / denoise)
    return ks.scheduler_sigmas(ms, scheduler, total).float().cpu()[-(steps + 1):]


@executor("BasicScheduler")
def basic_scheduler(ctx: ExecContext, model: Any, scheduler: Any, steps: Any, denoise: Any, **_: Any) -> tuple:
    model = check_model(model)
    if scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}", f"use one of {', '.join(ks.SCHEDULER_NAMES)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise NodeInputError("steps", f"steps: expected a whole number of at least 1, found {steps!r}")
    if isinstance(denoise, bool) or not isinstance(denoise, (int, float)):
        raise NodeInputError("denoise", f"denoise: expected a number from 0 to 1, found {denoise!r}")
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    return (basic_sigmas(ms, scheduler, steps, float(denoise)),)


def _sigmas(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 1 or not value.is_floating_point():
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError("sigmas", f"sigmas: expected SIGMAS (a 1-D float tensor), found {found}",
                             "connect a BasicScheduler (or another scheduler node) here")
    return value.float().cpu()


@executor("SamplerCustom", oom_hint=SAMPLER_OOM_HINT)
def sampler_custom(ctx: ExecContext, model: Any, add_noise: Any, noise_seed: Any, cfg: Any, positive: Any,
                   negative: Any, sampler: Any, sigmas: Any, latent_image: Any, **_: Any) -> tuple:
    base, wrappers = unwrap(sampler)
    if not isinstance(base, SamplerChoice):
        raise NodeInputError("sampler", f"sampler: expected a SAMPLER, found {type(base).__name__}",
                             "connect a KSamplerSelect here")
    if wrappers and base.sampler_name in CFG_PP_SAMPLERS:
        raise NodeInputError("sampler", f"{type(wrappers[0]).__name__} around the CFG++ sampler "
                             f"{base.sampler_name!r} is not supported", "wrap a sampler without _cfg_pp")
    sigmas = _sigmas(sigmas)

    def wrap(denoiser: Any, run_sigmas: torch.Tensor) -> Any:
        for wrapper in wrappers:  # outermost first: the base sampler calls the innermost
            denoiser = wrapper.wrap(denoiser, run_sigmas, float(cfg))
        return denoiser

    x0: dict = {}
    out = run_sampler(ctx, model, positive, negative, latent_image, seed=int(noise_seed), steps=len(sigmas) - 1,
                      cfg=float(cfg), sampler_name=base.sampler_name, scheduler=None,
                      sigmas_for=lambda ms: sigmas, add_noise=bool(add_noise), x0_out=x0, sampler_input="sampler",
                      wrap_denoiser=wrap if wrappers else None)
    if "x0" not in x0:
        return out, out
    denoised = dict(out)
    denoised["samples"] = x0["x0"]
    return out, denoised
