"""ComfyUI's ``ComfyNumberConvert`` ("Convert Number", ``comfy_extras/nodes_number_convert.py``,
2026-03-24 on, as of 0a92ed1): one INT, FLOAT, STRING or BOOLEAN value as a FLOAT and an INT.

A boolean is 1.0 / 1; an int keeps its value (its FLOAT is ``float(value)``); a float's INT
is truncated toward zero; a string is stripped and read with Python's ``float``, its INT with
``int`` of the text where that reads it (so a long integer keeps every digit), else the
truncated float. An empty string, text that is no number, and a value that is not finite are
errors in ComfyUI, and here on ``value``.
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.values import describe


def convert(value: Any) -> tuple[float, int]:
    """The node's (FLOAT, INT) for ``value``; NodeInputError where ComfyUI raises."""
    if isinstance(value, bool):
        as_float, as_int = (1.0, 1) if value else (0.0, 0)
    elif isinstance(value, int):
        try:
            as_float, as_int = float(value), value
        except OverflowError:
            raise NodeInputError("value", f"{value} is too large for a FLOAT") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise NodeInputError("value", f"cannot convert non-finite value to number: {value}")
        as_float, as_int = value, int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise NodeInputError("value", "cannot convert an empty string to a number")
        try:
            as_float = float(text)
        except ValueError:
            raise NodeInputError("value", f"cannot convert string to number: {value!r}") from None
        if not math.isfinite(as_float):
            raise NodeInputError("value", f"cannot convert non-finite value to number: {as_float}")
        try:
            as_int = int(text)
        except ValueError:
            as_int = int(as_float)
    else:
        raise NodeInputError("value", f"expected an INT, FLOAT, STRING or BOOLEAN, found {describe(value)}")
    if not math.isfinite(as_float):
        raise NodeInputError("value", f"cannot convert non-finite value to number: {as_float}")
    return as_float, as_int


@executor("ComfyNumberConvert", pure=True)
def number_convert(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    return convert(value)
