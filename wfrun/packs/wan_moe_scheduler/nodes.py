"""WanMoEScheduler (``schedulers.py``): search the flow shift that makes the schedule's
sigma after ``steps_high`` steps reach ``boundary``, and split the sigmas there.

As the pack: for ``shift`` = 0, ``interval``, ``2·interval``, … (accumulated by repeated
float addition, as the pack's loop does) the model's flow sampling with that shift
(multiplier 1000, whatever shift the incoming model carries) gives the ``scheduler``'s
sigmas for ``steps_high + steps_low`` steps — or, with ``denoise`` below 1, the last
``steps + 1`` sigmas of a schedule of ``int(steps / denoise)`` steps — and the search stops
at the first shift whose sigma number ``steps_high`` is at least ``boundary``. A search
that passes shift 100 fails (the pack's assertion "Could not find shift"). Outputs: the
shift rounded to 2 decimals, the step counts, all sigmas, the first ``steps_high + 1`` and
the last ``steps_low + 1`` (they share the boundary sigma). Plain ComfyUI scheduling:
sigmas come from ``calculate_sigmas`` without KSampler's penultimate-sigma drop.

Differences: the pack offers ComfyUI's scheduler list minus ``karras``, ``exponential``,
``linear_quadratic``, ``kl_optimal`` and ``bong_tangent``; wfrun refuses those by name as
the pack's combo does. ``denoise`` 0 makes the pack divide by zero; here it is refused.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling import ksampler as ks

#: Schedulers the pack leaves out of its list (the shift barely moves them).
LEFT_OUT = ("karras", "exponential", "linear_quadratic", "kl_optimal", "bong_tangent")
MAX_SHIFT = 100.0


def find_shift(scheduler: str, steps_high: int, steps_low: int, boundary: float, interval: float,
               denoise: float) -> tuple[float, torch.Tensor]:
    """(the unrounded shift found, the ``steps + 1`` sigmas at it); ValueError past shift 100."""
    total = steps_high + steps_low
    calculation = int(total / denoise) if denoise < 1.0 else total
    shift, found = 0.0, (0.0, torch.zeros(total + 1))
    while shift <= MAX_SHIFT:
        sigmas = ks.scheduler_sigmas(ks.FlowSampling(shift=shift, multiplier=1000.0), scheduler, calculation)
        sigmas = sigmas.cpu()[-(total + 1):]
        if sigmas.shape[0] <= steps_high:  # the pack stops with what it found so far
            break
        found = (shift, sigmas)
        if sigmas[steps_high] >= boundary:
            break
        shift += interval
        if shift > MAX_SHIFT:
            raise ValueError(f"no shift up to {MAX_SHIFT:g} puts sigma number {steps_high} (after the high-noise "
                             f"steps) at or above {boundary}")
    return found


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NodeInputError(name, f"{name}: expected a whole number of at least 1, found {value!r}")
    return value


@executor("WanMoEScheduler")
def wan_moe_scheduler(ctx: ExecContext, model: Any, scheduler: Any, steps_high: Any, steps_low: Any, boundary: Any,
                      interval: Any, denoise: Any, **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from UNETLoader, got {type(model).__name__}")
    if scheduler not in ks.SCHEDULER_NAMES or scheduler in LEFT_OUT:
        offered = [s for s in ks.SCHEDULER_NAMES if s not in LEFT_OUT]
        raise NodeInputError("scheduler", f"scheduler {scheduler!r} is not offered by WanMoEScheduler",
                             f"use one of {', '.join(offered)}")
    high, low = _count("steps_high", steps_high), _count("steps_low", steps_low)
    interval, denoise, boundary = float(interval), float(denoise), float(boundary)
    if interval <= 0:
        raise NodeInputError("interval", f"interval must be above 0, found {interval}")
    if denoise <= 0:
        raise NodeInputError("denoise", "denoise 0 leaves no steps (the pack divides by zero)", "use a denoise above 0")
    try:
        shift, sigmas = find_shift(scheduler, high, low, boundary, interval, denoise)
    except ValueError as err:
        raise NodeInputError("boundary", str(err), "lower the boundary or give fewer high-noise steps") from None
    sigmas = sigmas[:high + low + 1]
    return (round(shift, 2), high + low, high, low, sigmas, sigmas[:high + 1], sigmas[high:])
