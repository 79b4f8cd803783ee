"""The pack's stage arithmetic (``triple_ksampler/shared/alignment.py``, ``validation.py``,
``models.py`` and the switch rule of ``wvsampler/advanced.py``, v0.10.5), as pure functions.

Why a module of its own: these numbers decide which steps each of the three samplers runs,
so they are tested against the pack's formulas worked by hand, apart from any sampling.
``sigmas_at(steps, shift)`` stands for the wrapper's ``get_scheduler(...).sigmas`` (the
schedule's timesteps / 1000, highest first, ending in 0).
"""

from __future__ import annotations

import math
from typing import Callable

from wfrun.nodes.executor import NodeInputError

#: The pack's config.example.toml boundaries (``[boundaries] default_t2v`` / ``default_i2v``).
BOUNDARY_T2V = 0.875
BOUNDARY_I2V = 0.900
STRATEGIES = ("50% of steps", "Manual switch step", "T2V boundary", "I2V boundary", "Manual boundary",
              "T2V boundary (refined)", "I2V boundary (refined)", "Manual boundary (refined)")
#: The refinement's shift increment and range (``models.py``'s search).
SEARCH_INTERVAL = 0.01
SHIFT_MAX = 100.0
SEARCH_LIMIT = 10000

SigmasAt = Callable[[int, float], list]


class StageError(ValueError):
    """A setting the pack rejects (it raises ValueError there too); ``input_name`` is the widget."""

    def __init__(self, input_name: str, message: str):
        super().__init__(message)
        self.input_name = input_name


def perfect_alignment(threshold: int, lightning_start: int, lightning_steps: int) -> tuple[int, int]:
    """``base_steps = -1``: (base_steps, total_base_steps) so that stage 1 ends at the same
    fraction of its schedule where stage 2 starts in the Lightning one. lightning_start 1:
    ``ceil(threshold / steps)`` and that times ``steps``; otherwise the first total from the
    threshold up (``steps`` candidates) with ``total * start`` divisible by ``steps``, and
    failing that ``ceil(threshold * start / steps)`` with ``max(ceil(base * steps / start), threshold)``."""
    if lightning_start == 0:
        return 0, 0
    if threshold < 1:
        raise StageError("base_quality_threshold", f"base_quality_threshold must be at least 1, got {threshold}")
    if not 0 <= lightning_start < lightning_steps:
        raise StageError("lightning_start", f"lightning_start ({lightning_start}) must be between 0 and "
                         f"{lightning_steps - 1}")
    if lightning_start == 1:
        base = math.ceil(threshold / lightning_steps)
        return base, base * lightning_steps
    for total in range(threshold, threshold + lightning_steps):
        if total * lightning_start % lightning_steps == 0:
            return total * lightning_start // lightning_steps, total
    base = math.ceil(threshold * lightning_start / lightning_steps)
    return base, max(int(math.ceil(base * lightning_steps / lightning_start)), threshold)


def manual_total_base_steps(base_steps: int, lightning_start: int, lightning_steps: int) -> int:
    """A set ``base_steps``: the stage 1 schedule is ``floor(base * steps / start)`` long (at
    least ``base_steps``); with lightning_start 0 it is ``base_steps``."""
    if base_steps < 0:
        raise StageError("base_steps", f"base_steps must be >= 0, got {base_steps}")
    if lightning_start == 0:
        return base_steps
    return max(math.floor(base_steps * lightning_steps / lightning_start), base_steps)


def check_basic(lightning_steps: int, lightning_start: int, strategy: str, switch_step: int) -> None:
    if lightning_steps < 2:
        raise StageError("lightning_steps", "lightning_steps must be at least 2")
    if not 0 <= lightning_start < lightning_steps:
        raise StageError("lightning_start", f"lightning_start must be within [0, lightning_steps-1], got "
                         f"{lightning_start} with lightning_steps {lightning_steps}")
    if strategy == "Manual switch step" and switch_step != -1:
        if switch_step < 0:
            raise StageError("switch_step", f"switch_step ({switch_step}) must be >= 0 (or -1: half the steps)")
        if switch_step >= lightning_steps:
            raise StageError("switch_step", f"switch_step ({switch_step}) must be < lightning_steps ({lightning_steps})")
        if switch_step < lightning_start:
            raise StageError("switch_step", f"switch_step ({switch_step}) cannot be less than lightning_start "
                             f"({lightning_start})")


def check_resolved(lightning_start: int, lightning_steps: int, base_steps: int, strategy: str,
                   switch_step: int) -> None:
    """The pack's checks once base_steps is known (``validate_resolved_parameters`` and
    ``validate_special_modes``; the latter compares the strategy name *with* any
    "(refined)" suffix, as the pack does)."""
    if lightning_start > 0 and base_steps < 1:
        raise StageError("base_steps", f"base_steps must be >= 1 when lightning_start > 0, got {base_steps}")
    if lightning_start == 0:
        if strategy == "Manual switch step":
            first = switch_step if switch_step != -1 else lightning_steps // 2
        elif strategy in ("T2V boundary", "I2V boundary", "Manual boundary"):
            first = 1
        else:
            first = math.ceil(lightning_steps / 2)
        if first == 0 and base_steps > 0:
            raise StageError("base_steps", "when skipping both stage 1 and stage 2, base_steps must be -1 or 0")
        if base_steps > 0:
            raise StageError("base_steps", "set base_steps 0 or -1 for Lightning-only mode (lightning_start 0), "
                             "or raise lightning_start to use the base model")


def base_strategy(strategy: str) -> str:
    return strategy.replace(" (refined)", "")


def boundary_of(strategy: str, manual_boundary: float) -> float | None:
    return {"T2V boundary": BOUNDARY_T2V, "I2V boundary": BOUNDARY_I2V,
            "Manual boundary": float(manual_boundary)}.get(base_strategy(strategy))


def boundary_switch(sigmas: list, steps: int, boundary: float) -> int:
    """The first step whose sigma (the last, 0, left out) is below ``boundary``; none: the
    number of steps; then at most ``steps - 1``."""
    switch = steps
    for i, sigma in enumerate(sigmas[:-1]):
        if float(sigma) < boundary:
            switch = i
            break
    return min(switch, steps - 1)


def switch_step_for(strategy: str, switch_step: int, manual_boundary: float, lightning_steps: int,
                    sigmas_at: SigmasAt, shift: float) -> int:
    """The step where the Lightning high-noise model hands over to the low-noise one."""
    if strategy not in STRATEGIES:
        raise StageError("switch_strategy", f"unknown switch_strategy {strategy!r}")
    base = base_strategy(strategy)
    if base == "Manual switch step" and switch_step != -1:
        return int(switch_step)
    boundary = boundary_of(strategy, manual_boundary)
    if boundary is None:  # 50% of steps, or a manual step of -1
        return math.ceil(lightning_steps / 2)
    return boundary_switch(list(sigmas_at(lightning_steps, shift)), lightning_steps, boundary)


def refined_shift(sigmas_at: SigmasAt, steps: int, target_step: int, target: float, shift: float) -> float:
    """The "(refined)" strategies: from ``shift``, walk the shift in 0.01 steps in the
    direction that brings the sigma at ``target_step`` nearer ``target``, and stop before the
    first step that makes it worse (or at the 0..100 range's end); neither direction
    better, or no end within the pack's 10000 steps: ``shift`` itself."""
    def off(s: float) -> float:
        return abs(float(sigmas_at(steps, s)[target_step]) - target)

    base = off(shift)
    up, down = off(min(shift + SEARCH_INTERVAL, SHIFT_MAX)), off(max(shift - SEARCH_INTERVAL, 0.0))
    if up < base:
        direction = 1
    elif down < base:
        direction = -1
    else:
        return shift
    current, previous = shift, base
    for _ in range(SEARCH_LIMIT + 1):
        current += direction * SEARCH_INTERVAL
        if current < 0.0 or current > SHIFT_MAX:
            return current - direction * SEARCH_INTERVAL
        diff = off(current)
        if diff > previous:
            return current - direction * SEARCH_INTERVAL
        previous = diff
    return shift  # the pack gives up past its limit and keeps the shift it was given


def refuse_dry_run(dry_run: bool) -> None:
    """The pack's ``dry_run`` prints its stage plan and stops the queue: nothing wfrun can run."""
    if dry_run:
        raise NodeInputError("dry_run", "dry_run only reports the pack's stage plan and stops the queue",
                             "turn dry_run off (wfrun validate checks a workflow without sampling)")
