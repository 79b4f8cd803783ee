"""``TeaCache`` of welltop-cn/ComfyUI-TeaCache on a Wan MODEL.

The pack clones the MODEL, puts the threshold, the chosen coefficient set and the cache
device in its transformer options, and replaces the Wan model's forward for the sampler's
calls; a threshold of 0 returns the MODEL untouched. Each call compares the time embedding
with the last call's (``e``, the time embedder's output; ``e0``, its projection, for the
``_ret_mode`` entries), weights the relative L1 change by the entry's polynomial, and adds it
up: under ``rel_l1_thresh`` the blocks are skipped and the last computed residual is added,
at or above it they run and the sum starts again. Its state moves on every call; only the
skipping waits for the steps whose index / (sigmas - 1) lies in ``[start_percent,
end_percent]``. Here the MODEL gets those settings and the core samplers run a fresh
:class:`~wfrun.sampling.forward.NativeTeaCache` for each pass: the polynomials are the
TeaCache4Wan2.1 sets the wrapper's TeaCache uses (the pack's table holds the same numbers).

Differences: each prompt (cond, uncond) decides for itself, as when ComfyUI runs them one
at a time; when ComfyUI batches them, one prompt's need to compute makes both compute.
Only the Wan entries run (Flux, LTXV, Lumina 2, HunyuanVideo and HiDream patch models wfrun
does not run, and are refused by name), and the first releases' ``max_skip_steps`` rule
(2025-03 to 2025-05) is refused by name.
"""

from __future__ import annotations

from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The pack's Wan ``model_type`` entries → (TeaCache4Wan2.1 set, embedding compared).
WAN_TYPES = {
    "wan2.1_t2v_1.3B": ("1_3B", "e"), "wan2.1_t2v_14B": ("14B", "e"),
    "wan2.1_i2v_480p_14B": ("i2v_480", "e"), "wan2.1_i2v_720p_14B": ("i2v_720", "e"),
    "wan2.1_t2v_1.3B_ret_mode": ("1_3B", "e0"), "wan2.1_t2v_14B_ret_mode": ("14B", "e0"),
    "wan2.1_i2v_480p_14B_ret_mode": ("i2v_480", "e0"), "wan2.1_i2v_720p_14B_ret_mode": ("i2v_720", "e0"),
}


@executor("TeaCache")
def teacache(ctx: ExecContext, model: Any, model_type: str, rel_l1_thresh: float, start_percent: float,
             end_percent: float, cache_device: str, max_skip_steps: Any = None, **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL (UNETLoader), got {type(model).__name__}",
                             "the wrapper's models take WanVideoTeaCache")
    if max_skip_steps is not None:
        raise NodeInputError("max_skip_steps", "the first TeaCache releases' max_skip_steps rule (to 2025-05) is "
                             "not supported by wfrun", "re-create the node with the current ComfyUI-TeaCache")
    if float(rel_l1_thresh) == 0:
        return (model,)
    if model_type not in WAN_TYPES:
        raise NodeInputError("model_type", f"'{model_type}' is not a Wan model: wfrun runs TeaCache on Wan only",
                             "choose the wan2.1_ entry of the model you load")
    if float(rel_l1_thresh) < 0:
        raise NodeInputError("rel_l1_thresh", "the threshold cannot be negative")
    coefficients, mode = WAN_TYPES[model_type]
    settings = {"rel_l1_thresh": float(rel_l1_thresh), "start_percent": float(start_percent),
                "end_percent": float(end_percent), "coefficients": coefficients, "mode": mode, "native": True,
                "cache_device": ctx.device if cache_device == "cuda" else "cpu"}
    return (model.patched(teacache=settings),)
