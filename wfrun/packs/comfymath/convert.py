"""ComfyMath's CM_IntToFloat (``src/comfymath/convert.py``): ``float(a)``."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("CM_IntToFloat")
def int_to_float(ctx: ExecContext, a: Any, **_: Any) -> tuple:
    if isinstance(a, bool) or not isinstance(a, int):
        raise NodeInputError("a", f"a: expected a whole number, found {a!r}", "connect an INT")
    return (float(a),)
