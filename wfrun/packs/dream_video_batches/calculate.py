"""Dream Video Batches' Multiply and Divide (``calculate.py``): ``(float + int) / divisor``
as FLOAT and its floor as INT; ``float * multiple + int * multiple`` as FLOAT and Python's
``round`` of it as INT."""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _number(value: Any, name: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a number, found {value!r}")
    return value


@executor("Divide [DVB]")
def divide(ctx: ExecContext, divisor: Any, float: Any, int: Any, **_: Any) -> tuple:  # noqa: A002 (the pack's names)
    if _number(divisor, "divisor") == 0:
        raise NodeInputError("divisor", "the divisor is 0")
    value = (_number(float, "float") + _number(int, "int")) / divisor
    return (value, math.floor(value))


@executor("Multiply [DVB]")
def multiply(ctx: ExecContext, multiple: Any, float: Any, int: Any, **_: Any) -> tuple:  # noqa: A002
    m = _number(multiple, "multiple")
    value = _number(float, "float") * m + _number(int, "int") * m
    return (value, round(value))
