"""WanMoeKSampler, WanMoeKSamplerAdvanced and SplitSigmasAtT (``nodes.py``).

What the pack's ``wan_ksampler`` does (the version of 2025-08-12 and later, the one the
workflows save: ``properties.ver`` 8fc9900 and on):

1. Both models get ModelSamplingSD3's flow sampling with ``sigma_shift`` (multiplier 1000).
2. The switch step comes from the high-noise model's plain schedule
   (``calculate_sigmas(scheduler, steps)``: no ``denoise``, no penultimate-sigma drop):
   with ``t_i = sigma_i`` (timestep / 1000), the first ``i >= 1`` with ``t_i < boundary``
   gives ``switch = i - 1``; none gives ``switch = steps``.
3. Two ``comfy.sample.sample`` calls, each a KSamplerAdvanced-like pass over the schedule
   of ``steps`` at ``denoise`` (KSampler's sigmas, so the penultimate drop and ``denoise``
   apply here), cut to a step window:

   - high-noise model, steps ``[start, min(last, switch)]``, CFG ``cfg_high_noise``, when
     ``start < switch``; its last sigma is set to 0 whenever the low-noise pass follows (or
     the node asks for a full denoise), so this pass ends on its x0 prediction;
   - low-noise model, steps ``[max(start, switch), last]``, CFG ``cfg_low_noise``, when
     ``last >= switch``.

   ``comfy.sample.sample`` ignores its ``disable_noise`` argument, so *both* passes start by
   noising their input with the same seed's noise at their first sigma
   (``sigma * noise + (1 - sigma) * latent``): the low-noise pass re-noises the high pass's
   x0 prediction with the original noise. Only the Advanced node's ``add_noise`` disable
   makes that noise zero for both. A pass whose window is empty returns its input as is.

Each pass here is ComfyUI's SamplerCustom over exactly those sigmas (the core executors,
found in the executor registry: packs do not import each other), which is what
``comfy.sample.sample`` runs for a step window.

Differences from the pack: it changes the two input MODELs' sampling in place (a patch on
the incoming model objects, so nodes that run later with the same models see the shift);
here the shift applies to this node's passes only. Saves of the first signature (one
``cfg``, no ``sigma_shift``; 2025-08-09/10) run that version's rule: the model's own shift,
one CFG, and ``switch`` = the first index ``i >= 0`` of KSampler's schedule (with
``denoise``) whose timestep is below the boundary.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling import ksampler as ks

OOM_HINT = "load the models with weight_dtype fp8_e4m3fn, or make fewer frames or a smaller size"
#: The pack's ``last_step`` when the node sets none (KSampler runs to the end).
NO_LAST_STEP = 9999


def _model(name: str, model: Any) -> CoreModel:
    if not isinstance(model, CoreModel):
        raise NodeInputError(name, f"expected a MODEL from UNETLoader, got {type(model).__name__}",
                             "connect the Wan 2.2 high-noise and low-noise models (ComfyUI's loaders)")
    return model


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "sampler_name")


def _check_scheduler(scheduler: Any) -> None:
    if scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}",
                             f"use one of {', '.join(ks.SCHEDULER_NAMES)}")


def switch_step(sigmas: torch.Tensor, ms: ks.FlowSampling, boundary: float) -> int:
    """The pack's switch: ``i - 1`` for the first ``i >= 1`` whose timestep / 1000 is below
    ``boundary``, else the number of steps (``len(sigmas) - 1``)."""
    for i, sigma in enumerate(sigmas.tolist()[1:]):
        if float(ms.timestep(sigma)) / 1000 < boundary:
            return i
    return len(sigmas) - 1


def first_switch_step(sigmas: torch.Tensor, ms: ks.FlowSampling, boundary: float, steps: int) -> int:
    """The first version's switch: the first index ``i >= 0`` below ``boundary``, else ``steps``."""
    for i, sigma in enumerate(sigmas.tolist()):
        if float(ms.timestep(sigma)) / 1000 < boundary:
            return i
    return steps


def wan_moe_sample(ctx: ExecContext, high: CoreModel, low: CoreModel, *, seed: int, steps: int,
                   cfgs: tuple[float, float], sampler_name: str, scheduler: str, positive: Any, negative: Any,
                   latent: Any, boundary: float, denoise: float, add_noise: bool = True, start_step: int | None = None,
                   last_step: int | None = None, force_full_denoise: bool = False,
                   first_version: bool = False) -> tuple:
    """The pack's ``wan_ksampler`` (see the module docs); ``high``/``low`` carry their shift."""
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise NodeInputError("latent_image", f"expected a LATENT, got {type(latent).__name__}")
    _check_scheduler(scheduler)
    sampler, = _core("KSamplerSelect")(ctx, sampler_name=sampler_name)
    if start_step is not None and start_step >= steps:
        raise NodeInputError("start_at_step", f"start_at_step {start_step} must be below steps {steps}",
                             "the pack asserts this too")
    if last_step is not None and start_step is not None and last_step < start_step:
        raise NodeInputError("end_at_step", f"end_at_step {last_step} is below start_at_step {start_step}",
                             "the pack asserts this too")
    start = 0 if start_step is None else start_step
    last = NO_LAST_STEP if last_step is None else last_step
    ms_high = ks.FlowSampling(shift=high.shift, multiplier=high.multiplier)
    try:
        if first_version:
            switch = first_switch_step(ks.ksampler_sigmas(ms_high, scheduler, steps, denoise,
                                                          sampler_name=sampler_name), ms_high, boundary, steps)
        else:
            switch = switch_step(ks.scheduler_sigmas(ms_high, scheduler, steps), ms_high, boundary)
    except ks.SchedulerStepsError as err:
        raise NodeInputError("steps", str(err), "use more steps or another scheduler") from None
    with_high, with_low = start < switch, last >= switch

    def run(model: CoreModel, cfg: float, first: int, end: int, full: bool, samples: dict) -> dict:
        ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
        sigmas = ks.advanced_sigmas(ms, scheduler, steps, first, end, full, sampler_name=sampler_name,
                                    denoise=denoise)
        if len(sigmas) == 0:  # KSampler.sample: a window past the end returns the latent as it is
            return samples
        out, _ = _core("SamplerCustom")(ctx, model=model, add_noise=add_noise, noise_seed=seed, cfg=cfg,
                                       positive=positive, negative=negative, sampler=sampler, sigmas=sigmas,
                                       latent_image=samples)
        return out

    result = latent
    if with_high:
        result = run(high, cfgs[0], start, min(last, switch), with_low or force_full_denoise, result)
    if with_low:
        result = run(low, cfgs[1], max(start, switch), last, force_full_denoise, result)
    out = dict(latent)
    out["samples"] = result["samples"]
    return (out,)


def _shifted(high: Any, low: Any, sigma_shift: Any, cfg: Any) -> tuple[CoreModel, CoreModel]:
    high, low = _model("model_high_noise", high), _model("model_low_noise", low)
    if cfg is not None:  # the first signature set no shift: the models' own sampling
        return high, low
    return (high.patched(shift=float(sigma_shift), multiplier=1000.0),
            low.patched(shift=float(sigma_shift), multiplier=1000.0))


def _cfgs(cfg: Any, cfg_high_noise: Any, cfg_low_noise: Any) -> tuple[float, float]:
    if cfg is not None:
        return float(cfg), float(cfg)
    return float(cfg_high_noise), float(cfg_low_noise)


@executor("WanMoeKSampler", oom_hint=OOM_HINT)
def wan_moe_ksampler(ctx: ExecContext, model_high_noise: Any, model_low_noise: Any, boundary: Any, seed: Any,
                     steps: Any, sampler_name: Any, scheduler: Any, positive: Any, negative: Any, latent_image: Any,
                     denoise: Any, cfg_high_noise: Any, cfg_low_noise: Any, sigma_shift: Any, cfg: Any = None,
                     **_: Any) -> tuple:
    """KSampler over the two experts; ``cfg`` only in saves of the first signature."""
    high, low = _shifted(model_high_noise, model_low_noise, sigma_shift, cfg)
    return wan_moe_sample(ctx, high, low, seed=int(seed), steps=int(steps),
                          cfgs=_cfgs(cfg, cfg_high_noise, cfg_low_noise), sampler_name=sampler_name,
                          scheduler=scheduler, positive=positive, negative=negative, latent=latent_image,
                          boundary=float(boundary), denoise=float(denoise), first_version=cfg is not None)


@executor("WanMoeKSamplerAdvanced", oom_hint=OOM_HINT)
def wan_moe_ksampler_advanced(ctx: ExecContext, model_high_noise: Any, model_low_noise: Any, boundary: Any,
                              add_noise: Any, noise_seed: Any, steps: Any, sampler_name: Any, scheduler: Any,
                              positive: Any, negative: Any, latent_image: Any, start_at_step: Any, end_at_step: Any,
                              return_with_leftover_noise: Any, cfg_high_noise: Any, cfg_low_noise: Any,
                              sigma_shift: Any, cfg: Any = None, **_: Any) -> tuple:
    """KSamplerAdvanced over the two experts (the pack's node has no ``denoise``: 1)."""
    for name, value in (("add_noise", add_noise), ("return_with_leftover_noise", return_with_leftover_noise)):
        if value not in ("enable", "disable"):
            raise NodeInputError(name, f"{value!r} is not enable or disable")
    high, low = _shifted(model_high_noise, model_low_noise, sigma_shift, cfg)
    return wan_moe_sample(ctx, high, low, seed=int(noise_seed), steps=int(steps),
                          cfgs=_cfgs(cfg, cfg_high_noise, cfg_low_noise), sampler_name=sampler_name,
                          scheduler=scheduler, positive=positive, negative=negative, latent=latent_image,
                          boundary=float(boundary), denoise=1.0, add_noise=add_noise == "enable",
                          start_step=int(start_at_step), last_step=int(end_at_step),
                          force_full_denoise=return_with_leftover_noise != "enable", first_version=cfg is not None)


def _sigmas(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 1 or not value.is_floating_point():
        raise NodeInputError("sigmas", f"expected SIGMAS (a 1-D float tensor), got {type(value).__name__}",
                             "connect a BasicScheduler (or another scheduler node) here")
    return value


@executor("SplitSigmasAtT")
def split_sigmas_at_t(ctx: ExecContext, boundary: Any, sigmas: Any, model: Any = None, **_: Any) -> tuple:
    """(sigmas up to the switch, sigmas from it, the switch index), the switch as in the
    sampler but over the given sigmas; without a model, a flow model's timestep (sigma x 1000)."""
    sigmas = _sigmas(sigmas)
    ms = ks.FlowSampling() if model is None else (
        ks.FlowSampling(shift=_model("model", model).shift, multiplier=model.multiplier))
    split = len(sigmas)  # the pack's default here is the sigma count, not the step count
    for i, sigma in enumerate(sigmas.tolist()[1:]):
        if float(ms.timestep(sigma)) / 1000 < float(boundary):
            split = i
            break
    return (sigmas[:split + 1], sigmas[split:], split)
