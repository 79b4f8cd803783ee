"""WanVideoFlowEdit (nodes.py, 2025-03-05 to 2025-12-26, then removed from the pack): the
source prompt and step settings of FlowEdit for WanVideoSampler's ``flowedit_args``. The
pack passes its inputs on as a dict; wfrun checks them here so a bad value names this node.
The editing itself is ``sampling.flowedit`` (the formula) and ``sampling.flowedit_sampling``
(the sampler's pass)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds, TextEmbeds
from wfrun.sampling.flowedit import FlowEditArgs


@executor("WanVideoFlowEdit")
def wanvideo_flowedit(ctx: ExecContext, source_embeds: Any, skip_steps: int, drift_steps: int,
                      drift_flow_shift: float, source_cfg: Any, drift_cfg: Any, source_image_embeds: Any = None,
                      **_: Any) -> tuple:
    if not isinstance(source_embeds, TextEmbeds) or not source_embeds.prompt_embeds:
        raise NodeInputError("source_embeds", f"expected WANVIDEOTEXTEMBEDS, got {type(source_embeds).__name__}",
                             "connect WanVideoTextEncode (or WanVideoTextEmbedBridge) with the source video's prompt")
    if source_image_embeds is not None and not isinstance(source_image_embeds, ImageEmbeds):
        raise NodeInputError("source_image_embeds", "expected WANVIDIMAGE_EMBEDS, got "
                             f"{type(source_image_embeds).__name__}", "connect WanVideoImageClipEncode or "
                             "WanVideoImageToVideoEncode of the source's first frame")
    for name, value in (("skip_steps", skip_steps), ("drift_steps", drift_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NodeInputError(name, f"{name} = {value!r} is not a step count", "give a whole number, 0 or more")
    if float(drift_flow_shift) <= 0:
        raise NodeInputError("drift_flow_shift", f"drift_flow_shift = {drift_flow_shift} must be above 0")
    return (FlowEditArgs(source_embeds=source_embeds, skip_steps=int(skip_steps), drift_steps=int(drift_steps),
                         drift_flow_shift=float(drift_flow_shift), source_cfg=_scale(source_cfg, "source_cfg"),
                         drift_cfg=_scale(drift_cfg, "drift_cfg"), source_image_embeds=source_image_embeds),)


def _scale(value: Any, name: str) -> float | tuple[float, ...]:
    """One cfg scale, or a list of them (the pack also took a per-step list here)."""
    try:
        if isinstance(value, (list, tuple)):
            return tuple(float(v) for v in value)
        return float(value)
    except (TypeError, ValueError):
        raise NodeInputError(name, f"{name} = {value!r} is not a number", "give a cfg scale") from None
