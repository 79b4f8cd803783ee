"""``SamplerSelector`` / ``SchedulerSelector`` (``nodes/*_selector.py``): the chosen name,
passed on as the sampler / scheduler choice a sampler node takes. The choices are ComfyUI's
(``KSampler.SAMPLERS`` / ``SCHEDULERS``), which the spec lists and the graph checks enforce;
a name wfrun's samplers cannot run is refused by the sampler that receives it."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a name, found {value!r}", f"pick a {name}")
    return value


@executor("SamplerSelector")
def sampler_selector(ctx: ExecContext, sampler_name: Any, **_: Any) -> tuple:
    return (_name(sampler_name, "sampler_name"),)


@executor("SchedulerSelector")
def scheduler_selector(ctx: ExecContext, scheduler: Any, **_: Any) -> tuple:
    return (_name(scheduler, "scheduler"),)
