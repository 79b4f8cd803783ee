"""ComfyMath's ``CM_FloatToInt`` (``src/comfymath/convert.py``: ``int(a)``, towards zero) and
``CM_IntBinaryOperation`` (``src/comfymath/int.py``), with the pack's table of operations,
its quirks kept: Div and Mod floor (``//``, ``%``), Pow of a negative exponent gives
Python's float, Nand and Nor are both ``~a & b`` and Xnor is ``~a ^ b``.

Refused where the pack would raise or grow without bound: a zero divisor (Div/Mod) on
``b``; Shl by a negative count or a result past :data:`MAX_INT_BITS` bits, and Pow past that
size, on ``b`` before they are computed; a non-finite float on ``a`` of FloatToInt.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Integers wider than this are refused (ComfyUI's INT widget is 64-bit; this leaves room).
MAX_INT_BITS = 4096

OPERATIONS: dict[str, Callable[[int, int], Any]] = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a // b,
    "Mod": lambda a, b: a % b,
    "Pow": lambda a, b: a ** b,
    "And": lambda a, b: a & b,
    "Nand": lambda a, b: ~a & b,
    "Or": lambda a, b: a | b,
    "Nor": lambda a, b: ~a & b,
    "Xor": lambda a, b: a ^ b,
    "Xnor": lambda a, b: ~a ^ b,
    "Shl": lambda a, b: a << b,
    "Shr": lambda a, b: a >> b,
    "Max": max,
    "Min": min,
}


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}", "connect an INT")
    if value.bit_length() > MAX_INT_BITS:
        raise NodeInputError(name, f"{name}: a number of {value.bit_length()} bits is too large")
    return value


def _too_large(op: str, a: int, b: int) -> bool:
    if op == "Pow" and b > 0 and abs(a) > 1:
        return b * a.bit_length() > MAX_INT_BITS + 64
    if op == "Shl":
        return a != 0 and b + a.bit_length() > MAX_INT_BITS
    return False


@executor("CM_IntBinaryOperation")
def int_binary_operation(ctx: ExecContext, op: Any, a: Any, b: Any, **_: Any) -> tuple:
    if op not in OPERATIONS:
        raise NodeInputError("op", f"op: unknown operation {op!r}", f"use one of {', '.join(OPERATIONS)}")
    a, b = _whole(a, "a"), _whole(b, "b")
    if op in ("Div", "Mod") and b == 0:
        raise NodeInputError("b", f"b is 0: {op} by zero", "use a divisor other than 0")
    if op in ("Shl", "Shr") and b < 0:
        raise NodeInputError("b", f"b is {b}: a negative shift count", "use a count of 0 or more")
    if _too_large(op, a, b):
        raise NodeInputError("b", f"{op} of {a} and {b} gives a number over {MAX_INT_BITS} bits",
                             "use smaller numbers")
    return (OPERATIONS[op](a, b),)


@executor("CM_FloatToInt")
def float_to_int(ctx: ExecContext, a: Any, **_: Any) -> tuple:
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise NodeInputError("a", f"a: expected a number, found {a!r}", "connect a FLOAT")
    if not math.isfinite(a):
        raise NodeInputError("a", f"a is {a}: it has no whole-number value", "connect a finite number")
    return (int(a),)
