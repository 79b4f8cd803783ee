"""The wrapper's post-2025-07 way of configuring a loaded model, and its CFG schedule helper.

- ``WanVideoSetBlockSwap``: block swap set on the loaded model instead of the loader's
  ``block_swap_args`` input (the sampler places the model as for the loader's).
- ``WanVideoSetLoRAs``: LoRAs applied at sampling time, unmerged in the loaded model (the
  pack keeps them as runtime patches so they can change without a reload). Here they are
  merged for each sampling pass and the original weights put back after it
  (``models.lora_files.merged``): the same weights during the pass, the model as loaded
  outside it. LoRAs restricted to some blocks are refused (the pass merge takes whole files).
- ``CreateCFGScheduleFloatList``: a per-step CFG list: 1.0 outside ``[start_percent,
  end_percent]`` of the steps (index ``int(steps * percent)``, capped at the last step),
  inside it ``cfg_scale_start`` → ``cfg_scale_end`` by ``linear`` (t), ``ease_in`` (t²) or
  ``ease_out`` (t·(2 - t)), rounded to 2 decimals; step 0 is 1.0 whenever ``start_percent``
  is above 0 — the pack's ``CreateCFGScheduleFloatList.process``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import BlockSwapArgs, LoraSpec, WanVideoModel


def _model(model: Any) -> WanVideoModel:
    if not isinstance(model, WanVideoModel):
        raise NodeInputError("model", f"expected a WANVIDEOMODEL from WanVideoModelLoader, got {type(model).__name__}")
    return model


@executor("WanVideoSetBlockSwap")
def wanvideo_set_block_swap(ctx: ExecContext, model: Any, block_swap_args: Any = None, **_: Any) -> tuple:
    model = _model(model)
    if block_swap_args is not None and not isinstance(block_swap_args, BlockSwapArgs):
        raise NodeInputError("block_swap_args", "expected BLOCKSWAPARGS from WanVideoBlockSwap")
    return (dataclasses.replace(model, block_swap=block_swap_args),)


@executor("WanVideoSetLoRAs")
def wanvideo_set_loras(ctx: ExecContext, model: Any, lora: Any = None, **_: Any) -> tuple:
    model = _model(model)
    loras = tuple(lora or ())
    for spec in loras:
        if not isinstance(spec, LoraSpec):
            raise NodeInputError("lora", "expected WANVIDLORA from WanVideoLoraSelect")
        if spec.blocks is not None:
            raise NodeInputError("lora", f"{spec.path.name}: a LoRA restricted to some blocks cannot be set at "
                                 "sampling time in wfrun", "connect it to WanVideoModelLoader's lora input instead")
    return (dataclasses.replace(model, pass_loras=model.pass_loras + loras),)


def cfg_schedule(steps: int, start: float, end: float, interpolation: str, start_percent: float,
                 end_percent: float) -> list[float]:
    """The pack's CFG list (see the module docs)."""
    out = [1.0] * steps
    first = min(int(steps * start_percent), steps - 1)
    last = min(int(steps * end_percent), steps - 1)
    shape = {"linear": lambda t: t, "ease_in": lambda t: t * t, "ease_out": lambda t: t * (2 - t)}[interpolation]
    for i in range(first, last + 1):
        t = 0.0 if last == first else (i - first) / (last - first)
        out[i] = round(start + shape(t) * (end - start), 2)
    if start_percent > 0:
        out[0] = 1.0
    return out


@executor("CreateCFGScheduleFloatList")
def create_cfg_schedule_float_list(ctx: ExecContext, steps: int, cfg_scale_start: float, cfg_scale_end: float,
                                   interpolation: str, start_percent: float, end_percent: float, **_: Any) -> tuple:
    if interpolation not in ("linear", "ease_in", "ease_out"):
        raise NodeInputError("interpolation", f"unknown interpolation {interpolation!r}", "use linear, ease_in or ease_out")
    if int(steps) < 1 or int(steps) > 10_000:
        raise NodeInputError("steps", f"{steps} steps", "use 1 to 10000")
    return (cfg_schedule(int(steps), float(cfg_scale_start), float(cfg_scale_end), interpolation,
                         float(start_percent), float(end_percent)),)
