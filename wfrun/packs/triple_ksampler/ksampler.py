"""The pack's KSampler nodes (``triple_ksampler/ksampler/{advanced,simple}.py``, v0.10.5):
TripleKSamplerWan22LightningAdvanced / ...AdvancedAlt (the same node, its optional inputs
shown or not), TripleKSamplerWan22Lightning (Simple) and the two SwitchStrategy selectors.

What the pack does:

1. base_steps ``-1``: base_steps and total_base_steps from ``base_quality_threshold``
   (:func:`switching.perfect_alignment`); a set base_steps: total from
   :func:`switching.manual_total_base_steps`.
2. All three models get ModelSamplingSD3 with ``sigma_shift``.
3. The switch step (:func:`ksampler_switch_step`): "Manual switch step" takes
   ``switch_step`` (-1: ``steps // 2``); the three *plain* boundary strategies the first step
   ``i >= 1`` of the Lightning schedule (ComfyUI's ``calculate_sigmas`` of the shifted
   model, ``lightning_scheduler``) whose timestep / 1000 is below the boundary (none: the
   last step); anything else, the "(refined)" strategies included, ``ceil(steps / 2)``.
4. A "(refined)" strategy moves the shift in 0.01 steps until the sigma at that switch
   step is nearest its boundary (:func:`switching.refined_shift`), and the models are
   patched again with it.
5. Three KSamplerAdvanced runs (the core executor, from the registry: packs do not import
   each other): stage 1 base_high ``[0, base_steps)`` of total_base_steps at base_cfg,
   noise added, leftover kept (skipped when lightning_start is 0); stage 2 lightning_high
   ``[lightning_start, switch)`` of lightning_steps at lightning_cfg, noise added only when
   stage 1 was skipped (skipped when lightning_start equals the switch); stage 3
   lightning_low from ``max(lightning_start, switch)`` to the end, seed + 1, noise only when
   both were skipped, leftover noise removed.

The Simple node is the Advanced one with base_steps -1, the pack's built-in threshold 20,
lightning_cfg 1.0, its one sampler and scheduler for all stages, boundary 0.875 and
switch_step -1.

Layouts: the Advanced nodes run the layout of 2025-10-15 on (separate base and Lightning
samplers; unchanged to v0.10.5), the Simple node the one of 2025-09-17 on (the present
names), both with v0.10.5's computation. Saves of earlier layouts (``high_model``,
``shift``, ``midpoint_strategy``, ``use_boundary``, one ``sampler_name`` on the Advanced
node, ...) are refused by input name, or by the saved signature's date where the names
alone cannot tell.

Differences: ``dry_run`` (the pack logs its plan and stops the queue) is refused by name.
The pack reads its boundaries and the threshold shown in tooltips from an optional
``config.toml`` beside it; wfrun uses the shipped defaults (0.875, 0.900).
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling.ksampler import FlowSampling
from wfrun.sampling.ksampler.schedulers import scheduler_sigmas

from . import switching as sw

OOM_HINT = "load the models with weight_dtype fp8_e4m3fn, or make fewer frames or a smaller size"
#: ``config.DEFAULT_BASE_QUALITY_THRESHOLD``: what the Simple node always passes.
SIMPLE_BASE_QUALITY_THRESHOLD = 20
#: ``simple.SIMPLE_NODE_LIGHTNING_CFG``.
SIMPLE_LIGHTNING_CFG = 1.0
#: The switch_boundary / switch_step the Simple node hands the Advanced one.
SIMPLE_SWITCH_BOUNDARY = 0.875
SIMPLE_SWITCH_STEP = -1
STAGE3_SEED_OFFSET = 1
_PLAIN_BOUNDARIES = ("T2V boundary", "I2V boundary", "Manual boundary")
_MODEL_INPUT = {1: "base_high", 2: "lightning_high", 3: "lightning_low"}


ADVANCED_FIRST = "2025-10-15"  # ee138a2: base_/lightning_ sampler and scheduler
SIMPLE_FIRST = "2025-09-17"  # f909260: lightning_start back, base_high/lightning_* names
_OLD_INPUTS = ("high_model", "high_model_lx2v", "low_model_lx2v", "shift", "use_boundary", "boundary",
               "manual_midpoint", "midpoint_strategy", "midpoint", "lightning_cfg")


def refuse_old_layouts(ctx: ExecContext, node: str, first: str, rest: dict, extra: tuple = (),
                       dated: str = "switch_strategy") -> None:
    """A save of a layout before ``first`` (an input only older layouts had, or its date) is
    refused by name: its inputs meant other things then."""
    for name in _OLD_INPUTS + extra:
        if rest.get(name) is not None:
            raise NodeInputError(name, f"this {node} was saved with an early layout of the pack that has {name}; "
                                 f"wfrun implements the layout of {first} on",
                                 "re-create the node with a current ComfyUI-TripleKSampler")
    if ctx.saved_date is not None and ctx.saved_date < first:
        raise NodeInputError(dated, f"this {node} was saved with the pack's layout of {ctx.saved_date}; wfrun "
                             f"implements the layout of {first} on",
                             "re-create the node with a current ComfyUI-TripleKSampler")


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "base_high")


def comfy_sigmas(scheduler: str):
    """``sigmas_at(steps, shift)``: ComfyUI's ``calculate_sigmas`` of a ModelSamplingSD3 model."""
    def sigmas_at(steps: int, shift: float) -> list:
        return scheduler_sigmas(FlowSampling(shift=shift), scheduler, steps).tolist()
    return sigmas_at


def ksampler_switch_step(strategy: str, switch_step: int, switch_boundary: float, steps: int, sigmas_at: Any,
                         shift: float) -> int:
    """``strategies.calculate_switch_step_and_strategy`` as the KSampler nodes call it (with
    the full strategy name, so a "(refined)" one takes the 50% step)."""
    if strategy not in sw.STRATEGIES:
        raise sw.StageError("switch_strategy", f"unknown switch_strategy {strategy!r}")
    if strategy == "Manual switch step":
        return steps // 2 if switch_step == -1 else int(switch_step)
    if strategy in _PLAIN_BOUNDARIES:
        boundary = sw.boundary_of(strategy, switch_boundary)
        if not 0.0 <= boundary <= 1.0:
            raise sw.StageError("switch_boundary", f"boundary must be between 0.0 and 1.0, got {boundary}")
        sigmas = sigmas_at(steps, shift)  # flow sampling: timestep(sigma) / 1000 is sigma
        switch = steps
        for i, sigma in enumerate(sigmas[1:], start=1):
            if float(sigma) < boundary:
                switch = i
                break
        return min(switch, steps - 1)
    return math.ceil(steps / 2)


def plan(*, sigma_shift: float, base_quality_threshold: int, base_steps: int, lightning_start: int,
         lightning_steps: int, lightning_scheduler: str, switch_strategy: str, switch_step: int,
         switch_boundary: float) -> dict:
    """base_steps, total_base_steps, switch and the shift every model is patched with."""
    sw.check_basic(lightning_steps, lightning_start, switch_strategy, switch_step)
    if base_steps == -1:
        base, total = sw.perfect_alignment(base_quality_threshold, lightning_start, lightning_steps)
    else:
        base, total = base_steps, sw.manual_total_base_steps(base_steps, lightning_start, lightning_steps)
    sw.check_resolved(lightning_start, lightning_steps, base, switch_strategy, switch_step)
    sigmas_at = comfy_sigmas(lightning_scheduler)
    switch = ksampler_switch_step(switch_strategy, switch_step, switch_boundary, lightning_steps, sigmas_at,
                                  float(sigma_shift))
    shift = float(sigma_shift)
    if switch_strategy.endswith(" (refined)"):
        target = sw.boundary_of(switch_strategy, switch_boundary)
        try:  # the pack keeps the shift when its refinement fails
            shift = sw.refined_shift(sigmas_at, lightning_steps, switch, target, shift)
        except (ValueError, IndexError):
            shift = float(sigma_shift)
    if lightning_start > switch:
        raise sw.StageError("lightning_start", f"lightning_start ({lightning_start}) cannot be greater than the "
                            f"switch step ({switch})")
    return {"base_steps": base, "total_base_steps": total, "switch": switch, "shift": shift}


def run_stages(ctx: ExecContext, *, base_high: Any, lightning_high: Any, lightning_low: Any, positive: Any,
               negative: Any, latent_image: Any, seed: int, base_cfg: Any, base_sampler: str, base_scheduler: str,
               lightning_start: int, lightning_steps: int, lightning_cfg: Any, lightning_sampler: str,
               lightning_scheduler: str, stage_plan: dict) -> tuple:
    shift_node, sampler = _core("ModelSamplingSD3"), _core("KSamplerAdvanced")
    base, total, switch = stage_plan["base_steps"], stage_plan["total_base_steps"], stage_plan["switch"]

    def stage(n: int, model: Any, start: int, end: int, **kw: Any) -> dict:
        if start >= end:
            raise NodeInputError("lightning_steps", f"stage {n}: start_at_step ({start}) >= end_at_step ({end})")
        try:
            (patched,) = shift_node(ctx, model=model, shift=stage_plan["shift"])
            (out,) = sampler(ctx, model=patched, positive=positive, negative=negative, start_at_step=start,
                             end_at_step=end, **kw)
        except NodeInputError as err:
            name = _MODEL_INPUT[n] if err.input_name == "model" else err.input_name
            raise NodeInputError(name, f"stage {n}: {err}", getattr(err, "hint", None)) from None
        return out

    skip1, skip2 = lightning_start == 0, lightning_start == switch
    latent = latent_image
    if not skip1:
        latent = stage(1, base_high, 0, base, latent_image=latent, add_noise="enable", noise_seed=seed,
                       steps=total, cfg=base_cfg, sampler_name=base_sampler, scheduler=base_scheduler,
                       return_with_leftover_noise="enable")
    if not skip2:
        latent = stage(2, lightning_high, lightning_start, switch, latent_image=latent,
                       add_noise="enable" if skip1 else "disable", noise_seed=seed, steps=lightning_steps,
                       cfg=lightning_cfg, sampler_name=lightning_sampler, scheduler=lightning_scheduler,
                       return_with_leftover_noise="enable")
    latent = stage(3, lightning_low, max(lightning_start, switch), lightning_steps, latent_image=latent,
                   add_noise="enable" if skip1 and skip2 else "disable", noise_seed=seed + STAGE3_SEED_OFFSET,
                   steps=lightning_steps, cfg=lightning_cfg, sampler_name=lightning_sampler,
                   scheduler=lightning_scheduler, return_with_leftover_noise="disable")
    return (latent,)


def _advanced(ctx: ExecContext, *, base_high: Any, lightning_high: Any, lightning_low: Any, positive: Any,
              negative: Any, latent_image: Any, seed: int, sigma_shift: float, base_quality_threshold: int,
              base_steps: int, base_cfg: Any, base_sampler: str, base_scheduler: str, lightning_start: int,
              lightning_steps: int, lightning_cfg: Any, lightning_sampler: str, lightning_scheduler: str,
              switch_strategy: str, switch_step: int, switch_boundary: float, dry_run: bool) -> tuple:
    sw.refuse_dry_run(dry_run)
    try:
        stage_plan = plan(sigma_shift=float(sigma_shift), base_quality_threshold=int(base_quality_threshold),
                          base_steps=int(base_steps), lightning_start=int(lightning_start),
                          lightning_steps=int(lightning_steps), lightning_scheduler=str(lightning_scheduler),
                          switch_strategy=str(switch_strategy), switch_step=int(switch_step),
                          switch_boundary=float(switch_boundary))
    except sw.StageError as err:
        raise NodeInputError(err.input_name, str(err)) from None
    except ValueError as err:  # an unknown scheduler name
        raise NodeInputError("lightning_scheduler", str(err)) from None
    return run_stages(ctx, base_high=base_high, lightning_high=lightning_high, lightning_low=lightning_low,
                      positive=positive, negative=negative, latent_image=latent_image, seed=int(seed),
                      base_cfg=base_cfg, base_sampler=base_sampler, base_scheduler=base_scheduler,
                      lightning_start=int(lightning_start), lightning_steps=int(lightning_steps),
                      lightning_cfg=lightning_cfg, lightning_sampler=lightning_sampler,
                      lightning_scheduler=lightning_scheduler, stage_plan=stage_plan)


@executor("TripleKSamplerWan22LightningAdvanced", "TripleKSamplerWan22LightningAdvancedAlt", oom_hint=OOM_HINT)
def triple_ksampler_advanced(ctx: ExecContext, base_high: Any, lightning_high: Any, lightning_low: Any, positive: Any,
                             negative: Any, latent_image: Any, seed: int, sigma_shift: float,
                             base_quality_threshold: int, base_steps: int, base_cfg: Any, base_sampler: str,
                             base_scheduler: str, lightning_start: int, lightning_steps: int, lightning_cfg: Any,
                             lightning_sampler: str, lightning_scheduler: str, switch_strategy: str,
                             switch_step: int, switch_boundary: float, dry_run: bool, **rest: Any) -> tuple:
    refuse_old_layouts(ctx, "TripleKSamplerWan22LightningAdvanced", ADVANCED_FIRST, rest,
                       ("sampler_name", "scheduler"), dated="base_sampler")
    return _advanced(ctx, base_high=base_high, lightning_high=lightning_high, lightning_low=lightning_low,
                     positive=positive, negative=negative, latent_image=latent_image, seed=seed,
                     sigma_shift=sigma_shift, base_quality_threshold=base_quality_threshold, base_steps=base_steps,
                     base_cfg=base_cfg, base_sampler=base_sampler, base_scheduler=base_scheduler,
                     lightning_start=lightning_start, lightning_steps=lightning_steps, lightning_cfg=lightning_cfg,
                     lightning_sampler=lightning_sampler, lightning_scheduler=lightning_scheduler,
                     switch_strategy=switch_strategy, switch_step=switch_step, switch_boundary=switch_boundary,
                     dry_run=dry_run)


@executor("TripleKSamplerWan22Lightning", oom_hint=OOM_HINT)
def triple_ksampler_simple(ctx: ExecContext, base_high: Any, lightning_high: Any, lightning_low: Any, positive: Any,
                           negative: Any, latent_image: Any, seed: int, sigma_shift: float, base_cfg: Any,
                           lightning_start: int, lightning_steps: int, sampler_name: str, scheduler: str,
                           switch_strategy: str, **rest: Any) -> tuple:
    refuse_old_layouts(ctx, "TripleKSamplerWan22Lightning", SIMPLE_FIRST, rest, dated="lightning_start")
    return _advanced(ctx, base_high=base_high, lightning_high=lightning_high, lightning_low=lightning_low,
                     positive=positive, negative=negative, latent_image=latent_image, seed=seed,
                     sigma_shift=sigma_shift, base_quality_threshold=SIMPLE_BASE_QUALITY_THRESHOLD, base_steps=-1,
                     base_cfg=base_cfg, base_sampler=sampler_name, base_scheduler=scheduler,
                     lightning_start=lightning_start, lightning_steps=lightning_steps,
                     lightning_cfg=SIMPLE_LIGHTNING_CFG, lightning_sampler=sampler_name,
                     lightning_scheduler=scheduler, switch_strategy=switch_strategy, switch_step=SIMPLE_SWITCH_STEP,
                     switch_boundary=SIMPLE_SWITCH_BOUNDARY, dry_run=False)


@executor("SwitchStrategySimple", "SwitchStrategyAdvanced")
def switch_strategy_selector(ctx: ExecContext, switch_strategy: str, **_: Any) -> tuple:
    """Hands the chosen strategy name on (a COMBO output for the samplers' switch_strategy)."""
    if switch_strategy not in sw.STRATEGIES:
        raise NodeInputError("switch_strategy", f"unknown switch_strategy {switch_strategy!r}")
    return (switch_strategy,)
