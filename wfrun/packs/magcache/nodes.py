"""``MagCache`` of Zehong-Ma/ComfyUI-MagCache (registry id ``magcache``) on a Wan MODEL.

The pack clones the MODEL, puts its settings and the chosen ratio table in the model
options and replaces the Wan model's forward for the sampler's calls; a threshold of 0
returns the MODEL untouched. Here the MODEL gets a
:class:`~wfrun.sampling.magcache.CoreMagCacheSettings` and the core samplers run a fresh
:class:`~wfrun.sampling.magcache.CoreMagCache` for each pass (the rule, the table lookup and
where wfrun differs are written there).

Only the Wan ``model_type`` choices run: the Flux, Chroma, HunyuanVideo and Qwen-Image ones
patch models wfrun does not run, and are refused by name. ``wan2.1_vace_14B`` was offered
before its table existed (the pack fails with it up to 2025-08-24, then uses the T2V 14B
table); wfrun uses that table. A workflow's choice is taken as given, as in the pack: a
table for another Wan model than the one loaded only changes which steps are skipped.
"""

from __future__ import annotations

from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.magcache import CORE_RATIOS, CoreMagCacheSettings


@executor("MagCache")
def magcache(ctx: ExecContext, model: Any, model_type: str, magcache_thresh: float, retention_ratio: float,
             magcache_K: int, start_step: int, end_step: int, **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL (UNETLoader), got {type(model).__name__}")
    if float(magcache_thresh) == 0:
        return (model,)
    if model_type not in CORE_RATIOS:
        raise NodeInputError("model_type", f"'{model_type}' is not a Wan model: wfrun runs MagCache on Wan only",
                             "choose the wan2.1_/wan2.2_ entry of the model you load")
    if float(magcache_thresh) < 0:
        raise NodeInputError("magcache_thresh", "the threshold cannot be negative")
    settings = CoreMagCacheSettings(model_type=str(model_type), magcache_thresh=float(magcache_thresh),
                                    retention_ratio=float(retention_ratio), magcache_K=int(magcache_K),
                                    start_step=int(start_step), end_step=int(end_step))
    return (model.patched(magcache=settings),)
