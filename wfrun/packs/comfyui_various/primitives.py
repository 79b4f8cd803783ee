"""comfyui-various' JWInteger (``comfyui_primitive_ops.py``): its ``value`` as an INT."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("JWInteger")
def jw_integer(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError("value", f"expected a whole number, found {value!r}")
    return (value,)
