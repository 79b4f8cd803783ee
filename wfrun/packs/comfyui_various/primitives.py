"""comfyui-various' JWInteger and JWIntegerToFloat (``comfyui_primitive_ops.py``): ``value`` as an INT, and as a FLOAT."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("JWInteger")
def jw_integer(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError("value", f"expected a whole number, found {value!r}")
    return (value,)


@executor("JWIntegerToFloat")
def jw_integer_to_float(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    """comfyui-various' JWIntegerToFloat: ``float(value)``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError("value", f"expected a whole number, found {value!r}")
    return (float(value),)
