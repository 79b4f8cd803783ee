"""rgthree's ``KSampler Config (rgthree)`` (``py/ksampler_config.py``): its five widgets
passed on as they are: steps, refiner step, cfg, sampler name and scheduler name."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}", "connect an INT")
    return value


@executor("KSampler Config (rgthree)")
def ksampler_config(ctx: ExecContext, steps_total: Any, refiner_step: Any, cfg: Any, sampler_name: Any,
                    scheduler: Any, **_: Any) -> tuple:
    if isinstance(cfg, bool) or not isinstance(cfg, (int, float)):
        raise NodeInputError("cfg", f"cfg: expected a number, found {cfg!r}", "connect a FLOAT")
    for name, value in (("sampler_name", sampler_name), ("scheduler", scheduler)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a name, found {value!r}", f"pick a {name}")
    return (_whole(steps_total, "steps_total"), _whole(refiner_step, "refiner_step"), cfg, sampler_name, scheduler)
