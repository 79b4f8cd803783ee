"""ComfyUI's logic and math utility nodes: ComfySwitchNode (If/Else Switch,
``comfy_extras/nodes_logic.py``) and ComfyMathExpression (``comfy_extras/nodes_math.py``).

ComfySwitchNode passes ``on_true`` when ``switch`` is true, else ``on_false``; with neither
connected it is an error. Both are *lazy*, in ComfyUI and in wfrun (``wfrun.engine.lazy``):
the branch not chosen never runs, and arrives as ``None`` (so a chosen branch left
unconnected gives ``None``; only where the engine cannot tell which branch is chosen, a
list of booleans, do both run, and then the executor passes the one connected). When
``switch`` is a widget or comes from constant nodes the planner leaves that branch out
altogether (its files are not needed and its nodes need not be supported); otherwise the
runner skips it once ``switch`` is known.

ComfyMathExpression evaluates ``expression`` over its connected inputs ``values.a`` …
``values.z`` (as ``a`` … ``z``, plus ``values``, their list) with wfrun's own safe evaluator
(:mod:`wfrun.packs.comfy_core.math_expression`; ComfyUI uses simpleeval) and returns the
result as FLOAT, INT (truncated) and BOOLEAN (non-zero). The result must be a finite number
(a comparison's True/False counts as 1/0, as in ComfyUI).
"""

from __future__ import annotations

import math
import string
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.math_expression import ExpressionError, evaluate
from wfrun.packs.comfy_core.values import describe

#: Marks an input that is not connected (``None`` may be a real value of a socket).
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "<not connected>"})()


def _switch_reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    """ComfyUI's ``check_lazy_status``: only the chosen branch is read, connected or not (a
    chosen branch left unconnected gives ``None``: the Wan Animate 2 loop template's first
    pass relies on it, where the other branch's list does not exist yet)."""
    return ("on_true",) if inputs.get("switch") else ("on_false",)


@executor("ComfySwitchNode", lazy=_switch_reads, pure=True)
def switch_node(ctx: ExecContext, switch: Any, on_false: Any = ABSENT, on_true: Any = ABSENT, **_: Any) -> tuple:
    if on_false is ABSENT and on_true is ABSENT:
        raise NodeInputError("on_true", "neither on_false nor on_true is connected",
                             "connect at least one of them")
    if on_true is ABSENT:
        return (on_false,)
    if on_false is ABSENT:
        return (on_true,)
    if not isinstance(switch, (bool, int, float)):
        raise NodeInputError("switch", f"switch: expected a BOOLEAN, found {describe(switch)}")
    return (on_true if switch else on_false,)


@executor("ComfyMathExpression", pure=True)
def math_expression(ctx: ExecContext, expression: Any, **inputs: Any) -> tuple:
    names: dict[str, Any] = {}
    for letter in string.ascii_lowercase:
        key = f"values.{letter}"
        if key not in inputs or inputs[key] is None:
            continue
        value = inputs[key]
        if not isinstance(value, (bool, int, float)) or (isinstance(value, float) and not math.isfinite(value)):
            raise NodeInputError(key, f"{key}: expected a finite INT, FLOAT or BOOLEAN, found {describe(value)}")
        names[letter] = value
    names["values"] = [names[k] for k in string.ascii_lowercase if k in names]
    try:
        result = evaluate(expression, names)
    except ExpressionError as err:
        raise NodeInputError("expression", f"expression {_short(expression)}: {err}",
                             "use numbers, the connected inputs (a, b, …), + - * / // % **, comparisons "
                             "and the functions sum, min, max, abs, round, pow, sqrt, ceil, floor, log, "
                             "log2, log10, sin, cos, tan, int, float") from None
    if not isinstance(result, (int, float)):
        raise NodeInputError("expression", f"expression {_short(expression)} must give a number, "
                             f"found {describe(result)}")
    try:
        as_float = float(result)
    except OverflowError:
        raise NodeInputError("expression", f"expression {_short(expression)} gives a number too large for "
                             "a float") from None
    if not math.isfinite(as_float):
        raise NodeInputError("expression", f"expression {_short(expression)} gives {as_float}, not a finite number")
    return as_float, int(result), bool(result)


def _short(expression: Any) -> str:
    text = repr(expression)
    return text if len(text) <= 80 else text[:77] + "…'"
