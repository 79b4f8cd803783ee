"""The wrapper's scheduler and v2 sampler nodes (``nodes_sampler.py``, ``nodes_utility.py``,
2025-08 on): a schedule chosen apart from the sampler, and a sampler taking it.

- ``WanVideoScheduler`` / ``WanVideoSchedulerv2``: scheduler, steps, shift, start/end step
  and optional custom sigmas (taken the way the node's pack version takes them:
  ``sigmas_era``). The pack builds its scheduler object here and hands it on as
  a dict; wfrun hands on the choice (:class:`ScheduleChoice`) and the sampler builds the
  same schedule (``sampling.schedulers``), cut to the range. v1 also passes its ``sigmas``
  input, ``steps``, ``shift`` and the range on as outputs, as the pack does. The pack's
  ``enhance_hf`` tail (the timesteps below half the largest replaced by an even fifth or
  so) is built by the sampler too (``schedulers.enhance_hf_tail``).
- ``WanVideoSchedulerSA_ODE``: WanVideoScheduler for ``sa_ode_stable`` with the
  scheduler's own settings, handed to the sampler with the choice.
- ``WanVideoSigmaToStep``: the pack passes its float on unchanged; as a start or end step
  it is a sigma threshold (``schedulers.step_slice``).
- ``WanVideoSamplerExtraArgs``: the optional sampler inputs it was given, as a dict.
- ``WanVideoSamplerv2``: WanVideoSampler with the schedule from the scheduler node, the
  extra args' inputs, and the pack's fallbacks for the rest (RoPE ``comfy`` without extra
  args, RIFLEx off, denoise 1, batched CFG off).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.sampler import wanvideo_sampler
from wfrun.packs.wanvideo.sigmas_era import sigmas_as_given
from wfrun.packs.wanvideo.types import ScheduleChoice
from wfrun.sampling.schedulers import SchedulerError, normalize_name

EXTRA_ARGS = ("riflex_freq_index", "feta_args", "context_options", "cache_args", "slg_args", "rope_function",
              "loop_args", "experimental_args", "unianimate_poses", "fantasytalking_embeds", "uni3c_embeds",
              "multitalk_embeds")


def _choice(scheduler: Any, steps: Any, shift: Any, start_step: Any, end_step: Any, sigmas: Any,
            enhance_hf: Any, as_given: bool | None = True) -> ScheduleChoice:
    try:
        name = normalize_name(scheduler)
    except SchedulerError as err:
        raise NodeInputError("scheduler", str(err), err.hint) from None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise NodeInputError("steps", f"steps = {steps!r}: expected a whole number of at least 1")
    return ScheduleChoice(name=name, steps=int(steps), shift=float(shift), start_step=start_step, end_step=end_step,
                          sigmas=sigmas, sigmas_as_given=as_given, enhance_hf=bool(enhance_hf))


@executor("WanVideoScheduler")
def wanvideo_scheduler(ctx: ExecContext, scheduler: Any, steps: Any, shift: Any, start_step: Any, end_step: Any, *,
                       sigmas: Any = None, enhance_hf: Any, **_: Any) -> tuple:
    choice = _choice(scheduler, steps, shift, start_step, end_step, sigmas, enhance_hf,
                     sigmas_as_given(ctx, "WanVideoScheduler"))
    return (sigmas, steps, shift, choice, start_step, end_step)


@executor("WanVideoSchedulerv2")
def wanvideo_scheduler_v2(ctx: ExecContext, scheduler: Any, steps: Any, shift: Any, start_step: Any, end_step: Any,
                          *, sigmas: Any = None, enhance_hf: Any, **_: Any) -> tuple:
    return (_choice(scheduler, steps, shift, start_step, end_step, sigmas, enhance_hf,
                    sigmas_as_given(ctx, "WanVideoSchedulerv2")),)


@executor("WanVideoSigmaToStep")
def wanvideo_sigma_to_step(ctx: ExecContext, sigma: Any, **_: Any) -> tuple:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise NodeInputError("sigma", f"expected a number from 0 to 1, found {sigma!r}")
    return (float(sigma),)


@executor("WanVideoSamplerExtraArgs")
def wanvideo_sampler_extra_args(ctx: ExecContext, **given: Any) -> tuple:
    return ({name: value for name, value in given.items() if name in EXTRA_ARGS},)


@executor("WanVideoSamplerv2", oom_hint="see WanVideoSampler: block swap, fp8, fewer frames or a smaller size")
def wanvideo_sampler_v2(ctx: ExecContext, model: Any, image_embeds: Any, cfg: Any, seed: Any, force_offload: Any,
                        scheduler: Any, *, text_embeds: Any = None, samples: Any = None,
                        add_noise_to_samples: Any, extra_args: Any = None, **_: Any) -> tuple:
    if not isinstance(scheduler, ScheduleChoice):
        raise NodeInputError("scheduler", f"expected a WANVIDEOSCHEDULER, found {type(scheduler).__name__}",
                             "connect a WanVideoSchedulerv2")
    if extra_args is not None and not isinstance(extra_args, dict):
        raise NodeInputError("extra_args", f"expected WANVIDSAMPLEREXTRAARGS, found {type(extra_args).__name__}",
                             "connect a WanVideoSamplerExtraArgs")
    settings: dict[str, Any] = {"riflex_freq_index": 0, "rope_function": "comfy"}
    settings.update({k: v for k, v in (extra_args or {}).items() if v is not None})
    settings["riflex_freq_index"] = int(settings.get("riflex_freq_index") or 0)
    return wanvideo_sampler(ctx, model, image_embeds, scheduler.steps, cfg, scheduler.shift, seed, scheduler,
                            text_embeds=text_embeds, force_offload=bool(force_offload), samples=samples,
                            denoise_strength=1.0, batched_cfg=False, start_step=scheduler.start_step,
                            end_step=scheduler.end_step, add_noise_to_samples=bool(add_noise_to_samples),
                            **settings)


@executor("WanVideoSchedulerSA_ODE")
def wanvideo_scheduler_sa_ode(ctx: ExecContext, use_adaptive_order: Any, use_velocity_smoothing: Any,
                              convergence_threshold: Any, smoothing_factor: Any, steps: Any, shift: Any,
                              start_step: Any, end_step: Any, *, sigmas: Any = None, **_: Any) -> tuple:
    """The SA-ODE scheduler with its settings (2025-10 to 2025-12, then folded into the
    scheduler list as ``sa_ode_stable``): outputs as WanVideoScheduler's, the schedule built
    by the sampler (``sampling.schedulers.SAODEStable``)."""
    choice = _choice("sa_ode_stable", steps, shift, start_step, end_step, sigmas, False,
                     sigmas_as_given(ctx, "WanVideoSchedulerSA_ODE"))
    options = (("use_adaptive_order", bool(use_adaptive_order)), ("use_velocity_smoothing", bool(use_velocity_smoothing)),
               ("convergence_threshold", float(convergence_threshold)), ("smoothing_factor", float(smoothing_factor)))
    return (sigmas, steps, shift, dataclasses.replace(choice, options=options), start_step, end_step)
