"""SuperNodes' ``SigmasRescale`` (``scheduler.py``): the schedule's curve kept, its first
value moved to ``max`` and its last to ``min`` — ``(s - s[-1]) / (s[0] - s[-1]) * (max -
min) + min``; a flat schedule becomes all ``max``. Note the widget order: ``max`` first."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("SigmasRescale")
def sigmas_rescale(ctx: ExecContext, sigmas: Any, max: Any, min: Any, **_: Any) -> tuple:  # noqa: A002 (the pack's names)
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1 or sigmas.numel() == 0:
        raise NodeInputError("sigmas", "expected SIGMAS (a 1-D tensor)", "connect a scheduler's SIGMAS")
    high, low = float(max), float(min)
    s = sigmas.clone()
    first, last = s[0], s[-1]
    if first == last:
        return (torch.full_like(s, high),)
    return ((s - last) / (first - last) * (high - low) + low,)
