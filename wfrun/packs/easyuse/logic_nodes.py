"""Easy-Use's small logic and prompt nodes (``py/nodes/logic.py``, ``py/nodes/prompt.py``).

* ``easy mathInt``: ``a`` op ``b`` on ints — add, subtract, multiply, divide (floor
  division ``//``), modulo, power.
* ``easy mathFloat``: the same on floats with true division, each result rounded to 3
  decimals with Python's ``round``, as the pack does.
* ``easy convertAnything``: its input (named ``*``) through ``str``, ``int``, ``float`` or
  ``bool`` as ``output_type`` says (``int("2.5")`` fails there, and here with a clear error).
* ``easy promptReplace``: ``prompt`` with ``find1`` → ``replace1``, then 2, then 3, each by
  Python's plain ``str.replace`` (an empty ``find`` inserts ``replace`` between every
  character, as in the pack).

A division by zero, or a power beyond 4,096 in the exponent (a bound the pack lacks: the
numbers come from untrusted files), is a clear error on the node.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_EXPONENT = 4096

_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul, "divide": operator.floordiv,
    "modulo": operator.mod, "power": operator.pow}
_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul, "divide": operator.truediv,
    "modulo": operator.mod, "power": operator.pow}
_CONVERTERS: dict[str, Callable[[Any], Any]] = {"string": str, "int": int, "float": float, "boolean": bool}


def _apply(ops: dict[str, Callable[[Any, Any], Any]], a: Any, b: Any, operation: Any) -> Any:
    if operation not in ops:
        raise NodeInputError("operation", f"unknown operation {operation!r}", f"use one of {', '.join(ops)}")
    if operation == "power" and abs(b) > MAX_EXPONENT:
        raise NodeInputError("b", f"exponent {b} is beyond wfrun's bound of {MAX_EXPONENT}")
    try:
        return ops[operation](a, b)
    except (ArithmeticError, ValueError) as err:
        raise NodeInputError("b", f"{a} {operation} {b}: {err}") from None


def _number(value: Any, name: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a number, found {value!r}")
    return kind(value)


@executor("easy mathInt")
def math_int(ctx: ExecContext, a: Any, b: Any, operation: Any, **_: Any) -> tuple:
    return (_apply(_INT_OPS, _number(a, "a", int), _number(b, "b", int), operation),)


@executor("easy mathFloat")
def math_float(ctx: ExecContext, a: Any, b: Any, operation: Any, **_: Any) -> tuple:
    result = _apply(_FLOAT_OPS, _number(a, "a", float), _number(b, "b", float), operation)
    if isinstance(result, complex):  # a negative base to a fractional power
        raise NodeInputError("a", f"{a} ** {b} is not a real number")
    return (round(result, 3),)


@executor("easy convertAnything")
def convert_anything(ctx: ExecContext, output_type: Any, **inputs: Any) -> tuple:
    if output_type not in _CONVERTERS:
        raise NodeInputError("output_type", f"unknown output type {output_type!r}", "use string, int, float or boolean")
    if "*" not in inputs:
        raise NodeInputError("*", "nothing is connected to convert")
    try:
        return (_CONVERTERS[output_type](inputs["*"]),)
    except (TypeError, ValueError, OverflowError) as err:
        raise NodeInputError("*", f"cannot convert {inputs['*']!r} to {output_type}: {err}") from None


@executor("easy promptReplace")
def prompt_replace(ctx: ExecContext, prompt: Any, find1: Any, replace1: Any, find2: Any,
                   replace2: Any, find3: Any, replace3: Any, **_: Any) -> tuple:
    values = {"prompt": prompt, "find1": find1, "replace1": replace1, "find2": find2, "replace2": replace2,
              "find3": find3, "replace3": replace3}
    for name, value in values.items():
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    if len(prompt) > 1_000_000:
        raise NodeInputError("prompt", "the prompt is over 1,000,000 characters")
    for find, replace in ((find1, replace1), (find2, replace2), (find3, replace3)):
        prompt = prompt.replace(find, replace)
    return (prompt,)


@executor("easy loraNames")
def lora_names(ctx: ExecContext, lora_name: Any, **_: Any) -> tuple:
    """``easy loraNames`` (``py/nodes/util.py``, setLoraName): the chosen LoRA file name, as a
    value for another node's name input (the loader that receives it checks the file)."""
    if not isinstance(lora_name, str) or not lora_name:
        raise NodeInputError("lora_name", f"expected a LoRA file name, found {lora_name!r}")
    return (lora_name,)


@executor("easy boolean", pure=True)
def easy_boolean(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    """The BOOLEAN widget's value, passed on (``py/nodes/logic.py`` ``Boolean``)."""
    if not isinstance(value, (bool, int)):
        raise NodeInputError("value", f"expected a BOOLEAN, found {value!r}")
    return (bool(value),)
