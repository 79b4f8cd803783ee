"""WanVideoSamplerSettings and WanVideoSamplerFromSettings (the wrapper's ``nodes_sampler.py``,
2025-10-29 on): WanVideoSampler cut in two, for a tidier canvas and live preview.

The pack's settings node takes WanVideoSampler's inputs and hands them on as one dict; the
second node calls ``WanVideoSampler.process`` with that dict and nothing else. wfrun does
the same: the settings executor keeps the inputs it was given (the engine has filled the
spec's defaults, as ComfyUI passes every widget), and the second calls wfrun's
WanVideoSampler executor (``sampler.wanvideo_sampler``) with them, so what comes out is
what WanVideoSampler gives for the same inputs, by construction.

Where wfrun differs:

- the pack's settings node fills an input it was not given with ``process``'s Python
  default; wfrun's engine fills it from the spec. Both are the widget's default, and an
  unconnected optional link is absent (None) in both.
- an input error found while sampling is reported on the FromSettings node under
  ``sampler_inputs``, naming the settings node and its input that holds the value, since
  the value was set there.
- the sampler's rules that depend on the version a node was saved with (the step range,
  from 2025-07-28) see the FromSettings node's date; both nodes exist only since
  2025-10-29, so the rules are those of the newest sampler either way.
"""

from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.sampler import SAMPLER_OOM_HINT, wanvideo_sampler
from wfrun.packs.wanvideo.types import SamplerSettings


@executor("WanVideoSamplerSettings")
def wanvideo_sampler_settings(ctx: ExecContext, **inputs: Any) -> tuple:
    return (SamplerSettings(inputs=MappingProxyType(dict(inputs)), node_id=str(ctx.node_id),
                            node_title=str(ctx.node_title)),)


@executor("WanVideoSamplerFromSettings", oom_hint=SAMPLER_OOM_HINT)
def wanvideo_sampler_from_settings(ctx: ExecContext, sampler_inputs: Any, **_: Any) -> tuple:
    if not isinstance(sampler_inputs, SamplerSettings):
        raise NodeInputError("sampler_inputs", f"expected SAMPLER_ARGS, got {type(sampler_inputs).__name__}",
                             "connect a WanVideoSamplerSettings node")
    try:
        inspect.signature(wanvideo_sampler).bind(ctx, **sampler_inputs.inputs)
    except TypeError as err:  # a required input missing: settings not made by the settings node
        raise NodeInputError("sampler_inputs", f"the sampler settings are incomplete: {err}",
                             "connect a WanVideoSamplerSettings node") from None
    try:
        return wanvideo_sampler(ctx, **sampler_inputs.inputs)
    except NodeInputError as err:
        where = f"WanVideoSamplerSettings node {sampler_inputs.node_id}"
        if sampler_inputs.node_title:
            where += f" '{sampler_inputs.node_title}'"
        raise NodeInputError("sampler_inputs", f"{err} (input '{err.input_name}' of {where})",
                             err.hint) from None
