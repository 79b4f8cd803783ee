"""SimpleTripleKSamplerWan22Lightning, the pack's first simple node (2025-09-10, ``triple_ksampler_wan22.py``
of 3dfe46f; renamed TripleKSamplerWan22Lightning later that day, a name the pack then gave
another layout).

What it does: ``lightning_start`` 1 and ``base_steps = max(1, ceil(20 / lightning_steps))``,
stage 1's schedule ``base_steps · lightning_steps`` long; all three models get
ModelSamplingSD3 with ``shift``; the switch is the boundary step (``use_boundary``: the
first step ``i >= 1`` whose sigma is below ``boundary``, none: the last) or
``ceil(lightning_steps / 2)`` (at most the last step). Then KSamplerAdvanced three times
with the one sampler and scheduler: base ``[0, base_steps)`` at ``base_cfg`` with noise,
Lightning high ``[1, switch)`` at cfg 1 (skipped when the switch is 1), Lightning low from
``max(1, switch)`` to the end at cfg 1 with ``seed + 1``, no noise added after stage 1.
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling.ksampler import FlowSampling
from wfrun.sampling.ksampler.schedulers import scheduler_sigmas

#: The node's quality floor: base_steps * lightning_steps >= 20.
MIN_TOTAL_STEPS = 20
LIGHTNING_START = 1
LIGHTNING_CFG = 1.0
STAGE3_SEED_OFFSET = 1
_MODEL_INPUT = {1: "high_model", 2: "high_model_lx2v", 3: "low_model_lx2v"}


def legacy_switch(use_boundary: bool, boundary: float, steps: int, scheduler: str, shift: float) -> int:
    if use_boundary:
        sigmas = scheduler_sigmas(FlowSampling(shift=shift), scheduler, steps).tolist()
        switch = next((i for i, s in enumerate(sigmas[1:], start=1) if float(s) < float(boundary)), steps)
        return min(switch, steps - 1)
    return min(math.ceil(steps / 2), steps - 1)


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "high_model")


@executor("SimpleTripleKSamplerWan22Lightning")
def simple_triple_ksampler_legacy(ctx: ExecContext, high_model: Any, high_model_lx2v: Any, low_model_lx2v: Any,
                                  positive: Any, negative: Any, latent_image: Any, seed: int, shift: float,
                                  base_cfg: Any, lightning_steps: int, sampler_name: str, scheduler: str,
                                  use_boundary: bool, boundary: float, **_: Any) -> tuple:
    steps, seed = int(lightning_steps), int(seed)
    if steps < 2:
        raise NodeInputError("lightning_steps", "lightning_steps must be at least 2")
    base = max(1, math.ceil(MIN_TOTAL_STEPS / steps))
    total = max(math.floor(base * steps / LIGHTNING_START), base)
    try:
        switch = legacy_switch(bool(use_boundary), float(boundary), steps, str(scheduler), float(shift))
    except ValueError as err:
        raise NodeInputError("scheduler", str(err)) from None
    shift_node, sampler = _core("ModelSamplingSD3"), _core("KSamplerAdvanced")

    def stage(n: int, model: Any, latent: Any, start: int, end: int, **kw: Any) -> Any:
        if start >= end:  # the node returns the latent as it is
            return latent
        try:
            (patched,) = shift_node(ctx, model=model, shift=float(shift))
            (out,) = sampler(ctx, model=patched, positive=positive, negative=negative, latent_image=latent,
                             start_at_step=start, end_at_step=end, sampler_name=sampler_name, scheduler=scheduler,
                             **kw)
        except NodeInputError as err:
            name = _MODEL_INPUT[n] if err.input_name == "model" else err.input_name
            raise NodeInputError(name, f"stage {n}: {err}", getattr(err, "hint", None)) from None
        return out

    latent = stage(1, high_model, latent_image, 0, base, add_noise="enable", noise_seed=seed, steps=total,
                   cfg=base_cfg, return_with_leftover_noise="enable")
    if switch > LIGHTNING_START:
        latent = stage(2, high_model_lx2v, latent, LIGHTNING_START, switch, add_noise="disable", noise_seed=seed,
                       steps=steps, cfg=LIGHTNING_CFG, return_with_leftover_noise="enable")
    latent = stage(3, low_model_lx2v, latent, max(LIGHTNING_START, switch), steps, add_noise="disable",
                   noise_seed=seed + STAGE3_SEED_OFFSET, steps=steps, cfg=LIGHTNING_CFG,
                   return_with_leftover_noise="disable")
    return (latent,)
