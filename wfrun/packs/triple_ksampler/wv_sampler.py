"""TripleWVSamplerAdvanced / TripleWVSamplerAdvancedAlt (``triple_ksampler/wvsampler/advanced.py``).

What the pack does (v0.10.5; the two class types differ in their UI only):

1. ``base_steps = -1``: base_steps and total_base_steps from ``base_quality_threshold``
   (:func:`switching.perfect_alignment`); a set base_steps gets total_base_steps from
   :func:`switching.manual_total_base_steps`.
2. The switch step of the Lightning schedule (``lightning_steps`` at ``sigma_shift`` with
   ``lightning_scheduler``) from ``switch_strategy``; a "(refined)" strategy then moves the
   shift so that the sigma at that step meets the boundary, and *all three* stages sample
   with that refined shift.
3. Three WanVideoSampler runs, chained through ``samples``:

   - stage 1, ``base_high``: ``total_base_steps`` steps of ``base_scheduler`` at
     ``base_cfg``, steps ``[0, base_steps)``, from noise; skipped when ``lightning_start``
     or base_steps is 0;
   - stage 2, ``lightning_high``: ``lightning_steps`` at ``lightning_cfg``, steps
     ``[lightning_start, switch)``, adding noise only when stage 1 was skipped; skipped when
     ``lightning_start`` equals the switch;
   - stage 3, ``lightning_low``: steps ``[max(lightning_start, switch), end]``, seed + 1,
     adding noise only when both earlier stages were skipped; its two outputs are the node's.

   The wrapper's other inputs (text_embeds, feta_args, cache_args, ...) go to every stage.

Each run is wfrun's WanVideoSampler executor, found in the executor registry (packs do not
import each other), given what the pack gives ``WanVideoSampler.process``; inputs it does
not give take ``process``'s Python defaults (``denoise_strength`` 1.0).

Differences: ``dry_run`` (the pack logs its plan and stops the queue) is refused. The pack
falls back to the 50% switch when the wrapper's scheduler cannot be built for the switch
computation; here an unknown scheduler is an error at once (the pack's stage 2 would fail
on it anyway). A boundary switch below ``lightning_start`` makes the pack's stage 2 fail in
the wrapper (start step after end step); here that is refused before sampling, by name.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling.schedulers import SchedulerError, build_schedule

from . import switching as sw

OOM_HINT = "load the models with fp8 weights or block swap, or make fewer frames or a smaller size"
_MODEL_INPUT = {1: "base_high", 2: "lightning_high", 3: "lightning_low"}
#: The wrapper's process() default for the input the pack leaves out.
PROCESS_DENOISE_STRENGTH = 1.0
#: Stage 3's seed is the node's seed plus this (the pack's STAGE3_SEED_OFFSET).
STAGE3_SEED_OFFSET = 1


def _sampler() -> Any:
    return builtin_executor("WanVideoSampler", "base_high")


def _transformer_dim(model: Any) -> int:
    """The model's width, as the pack reads it for the switch (``diffusion_model.dim``)."""
    cfg = getattr(getattr(model, "transformer", None), "config", None)
    try:
        return int(cfg.num_attention_heads * cfg.attention_head_dim)
    except (AttributeError, TypeError):
        return 5120  # the pack's fallback


def sigmas_fn(scheduler: str, dim: int):
    """``sigmas_at(steps, shift)``: the wrapper's whole schedule for ``scheduler``."""
    def sigmas_at(steps: int, shift: float) -> list:
        return build_schedule(scheduler, steps, shift, transformer_dim=dim, walked=False).stepper.sigmas.tolist()
    return sigmas_at


def plan(*, sigma_shift: float, base_quality_threshold: int, base_steps: int, lightning_start: int,
         lightning_steps: int, lightning_scheduler: str, switch_strategy: str, switch_step: int,
         switch_boundary: float, dim: int = 5120, refine_dim: int = 5120) -> dict:
    """The pack's stage plan: base_steps, total_base_steps, switch and the shift all stages use.
    ``dim`` is the Lightning high model's width (the switch search); the refinement builds
    its schedules at ``refine_dim`` (the pack reads an attribute its model objects lack, so 5120)."""
    sw.check_basic(lightning_steps, lightning_start, switch_strategy, switch_step)
    if base_steps == -1:
        base, total = sw.perfect_alignment(base_quality_threshold, lightning_start, lightning_steps)
    else:
        base, total = base_steps, sw.manual_total_base_steps(base_steps, lightning_start, lightning_steps)
    switch = sw.switch_step_for(switch_strategy, switch_step, switch_boundary, lightning_steps,
                                sigmas_fn(lightning_scheduler, dim), sigma_shift)
    shift = float(sigma_shift)
    if switch_strategy.endswith(" (refined)"):
        target = sw.boundary_of(switch_strategy, switch_boundary)
        if target is not None:  # the pack's refinement fails (and keeps the shift) for step strategies
            try:
                shift = sw.refined_shift(sigmas_fn(lightning_scheduler, refine_dim), lightning_steps, switch,
                                         target, shift)
            except (SchedulerError, IndexError):
                shift = float(sigma_shift)  # the pack warns and keeps the shift
    sw.check_resolved(lightning_start, lightning_steps, base, switch_strategy, switch_step)
    return {"base_steps": base, "total_base_steps": total, "switch": switch, "shift": shift}


def run_stages(ctx: ExecContext, *, base_high: Any, lightning_high: Any, lightning_low: Any, seed: int,
               base_cfg: Any, base_scheduler: str, lightning_start: int, lightning_steps: int, lightning_cfg: Any,
               lightning_scheduler: str, stage_plan: dict, force_offload: bool, shared: dict) -> tuple:
    """The three WanVideoSampler runs of the plan (see the module docs)."""
    sampler = _sampler()
    base, total, switch = stage_plan["base_steps"], stage_plan["total_base_steps"], stage_plan["switch"]
    common = dict(shared, shift=stage_plan["shift"], force_offload=force_offload,
                  denoise_strength=PROCESS_DENOISE_STRENGTH)

    def stage(n: int, model: Any, **kw: Any) -> tuple:
        try:
            return sampler(ctx, model=model, **common, **kw)
        except NodeInputError as err:
            name = _MODEL_INPUT[n] if err.input_name == "model" else err.input_name
            raise NodeInputError(name, f"stage {n}: {err}", getattr(err, "hint", None)) from None

    out = None
    if lightning_start != 0 and base != 0:
        out, _ = stage(1, base_high, steps=total, cfg=base_cfg, scheduler=base_scheduler, seed=seed,
                       samples=None, start_step=0, end_step=base, add_noise_to_samples=True)
    if lightning_start != switch:
        if switch < lightning_start:
            raise NodeInputError("switch_strategy", f"the switch step ({switch}) comes before lightning_start "
                                 f"({lightning_start}): the pack's stage 2 fails there (start step after end step)",
                                 "lower lightning_start, or use another switch strategy or boundary")
        out, _ = stage(2, lightning_high, steps=lightning_steps, cfg=lightning_cfg, scheduler=lightning_scheduler,
                       seed=seed, samples=out, start_step=lightning_start, end_step=switch,
                       add_noise_to_samples=out is None)
    return stage(3, lightning_low, steps=lightning_steps, cfg=lightning_cfg, scheduler=lightning_scheduler,
                 seed=seed + STAGE3_SEED_OFFSET, samples=out, start_step=max(lightning_start, switch),
                 end_step=-1, add_noise_to_samples=out is None)


@executor("TripleWVSamplerAdvanced", "TripleWVSamplerAdvancedAlt", oom_hint=OOM_HINT)
def triple_wv_sampler_advanced(ctx: ExecContext, base_high: Any, lightning_high: Any, lightning_low: Any,
                               image_embeds: Any, seed: int, sigma_shift: float, base_quality_threshold: int,
                               base_steps: int, base_cfg: Any, base_scheduler: str, lightning_start: int,
                               lightning_steps: int, lightning_cfg: Any, lightning_scheduler: str,
                               switch_strategy: str, switch_step: int, switch_boundary: float, force_offload: bool,
                               riflex_freq_index: int, batched_cfg: bool, rope_function: str, *,
                               dry_run: bool, **wrapper_inputs: Any) -> tuple:
    sw.refuse_dry_run(dry_run)
    try:
        stage_plan = plan(sigma_shift=float(sigma_shift), base_quality_threshold=int(base_quality_threshold),
                          base_steps=int(base_steps), lightning_start=int(lightning_start),
                          lightning_steps=int(lightning_steps), lightning_scheduler=str(lightning_scheduler),
                          switch_strategy=str(switch_strategy), switch_step=int(switch_step),
                          switch_boundary=float(switch_boundary), dim=_transformer_dim(lightning_high))
    except sw.StageError as err:
        raise NodeInputError(err.input_name, str(err)) from None
    except SchedulerError as err:
        raise NodeInputError("lightning_scheduler", str(err), err.hint) from None
    shared = dict(wrapper_inputs, image_embeds=image_embeds, riflex_freq_index=riflex_freq_index,
                  batched_cfg=batched_cfg, rope_function=rope_function)
    return run_stages(ctx, base_high=base_high, lightning_high=lightning_high, lightning_low=lightning_low,
                      seed=int(seed), base_cfg=base_cfg, base_scheduler=base_scheduler,
                      lightning_start=int(lightning_start), lightning_steps=int(lightning_steps),
                      lightning_cfg=lightning_cfg, lightning_scheduler=lightning_scheduler, stage_plan=stage_plan,
                      force_offload=force_offload, shared=shared)


#: What TripleWVSampler (``wvsampler/simple.py``) hands the Advanced node: the config's
#: threshold (20 with no config.toml), base_steps -1, lightning_cfg 1.0, the one scheduler
#: for all stages, switch_step -1 and boundary 0.875, no dry run.
SIMPLE_BASE_QUALITY_THRESHOLD = 20
SIMPLE_LIGHTNING_CFG = 1.0
SIMPLE_SWITCH_STEP = -1
SIMPLE_SWITCH_BOUNDARY = 0.875


@executor("TripleWVSampler", oom_hint=OOM_HINT)
def triple_wv_sampler(ctx: ExecContext, base_high: Any, lightning_high: Any, lightning_low: Any, image_embeds: Any,
                      seed: int, sigma_shift: float, base_cfg: Any, lightning_start: int, lightning_steps: int,
                      scheduler: str, switch_strategy: str, force_offload: bool, riflex_freq_index: int,
                      batched_cfg: bool, rope_function: str, **wrapper_inputs: Any) -> tuple:
    """The Advanced node with the Simple one's fixed settings (``wvsampler/simple.py``)."""
    return triple_wv_sampler_advanced(
        ctx, base_high, lightning_high, lightning_low, image_embeds, seed, sigma_shift,
        SIMPLE_BASE_QUALITY_THRESHOLD, -1, base_cfg, scheduler, lightning_start, lightning_steps,
        SIMPLE_LIGHTNING_CFG, scheduler, switch_strategy, SIMPLE_SWITCH_STEP, SIMPLE_SWITCH_BOUNDARY,
        force_offload, riflex_freq_index, batched_cfg, rope_function, dry_run=False, **wrapper_inputs)
