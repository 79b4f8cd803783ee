"""The pack's BOOLEAN, comparison and cast nodes (``boolean_nodes.py``,
``comparison_nodes.py``, ``casting_nodes.py``): Python's ``and``/``or``/``not``, comparison
operators, ``len``, ``int()``/``float()``/``str()``/``bool()``, as the pack calls them.

Kept as the pack has them:

* ``and``/``or`` give one of their inputs (Python's), Xor is ``input1 != input2``; Generic
  And/Or take every ``item_N`` input by Python truth (the text ``"False"`` is true) and
  flip the answer with ``invert``.
* The ordering comparisons compare the values as they come (no cast); Equal/NotEqual any
  two values. A comparison that has no single truth value (two tensors element by element)
  is refused.
* NumberInRange and StringComparison test their flags against the *text* ``"True"`` /
  ``"False"`` (``include_min == "True"``, ``case_sensitive == "False"``). That worked while
  the flags were "True"/"False" lists (until 2025-05-10); since they became BOOLEAN widgets
  (2025-05-11), ComfyUI hands them real booleans, which never equal that text: the range's
  bounds are always exclusive and the comparison always case-sensitive. wfrun gives the
  same answers, by the date of the signature the file was saved with.
* CompareLength gives (False, -1) for a value without a length.
* CastToInt/Float of text or numbers as ``int()``/``float()`` (``int("2.5")`` is refused,
  ``int(2.7)`` is 2); CastToString is ``str()``, CastToBoolean ``bool()``.
"""

from __future__ import annotations

import operator
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.basic_data_handling.common import (MAX_CHARS, PREFIX, define, describe, read_any, read_float,
                                                    read_int, read_text)

ANY = read_any

#: The first signature whose flags are BOOLEAN widgets (before: "True"/"False" lists).
BOOLEAN_FLAGS_SINCE = "2025-05-11"

OPERATORS = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
             ">=": operator.ge, "<=": operator.le}


def truth(value: Any, name: str) -> bool:
    try:
        return bool(value)
    except Exception:  # noqa: BLE001 (a tensor of many values, an object refusing bool())
        raise NodeInputError(name, f"{name}: {describe(value)} has no single true/false value",
                             f"connect a BOOLEAN to '{name}'") from None


def _verdict(result: Any, name: str) -> bool:
    """The comparison's answer as the BOOLEAN it is meant to be."""
    if isinstance(result, bool):
        return result
    try:
        return bool(result)
    except Exception:  # noqa: BLE001
        raise NodeInputError(name, f"these values compare element by element ({type(result).__name__}), "
                             "not as a whole", "compare single values") from None


def _compare(op: Any, symbol: str) -> Any:
    def compute(value1: Any, value2: Any) -> bool:
        try:
            result = op(value1, value2)
        except TypeError:
            raise NodeInputError("value2", f"cannot compare {describe(value1)} {symbol} {describe(value2)}",
                                 "compare two numbers") from None
        return _verdict(result, "value2")
    return compute


def _is_text_flag(ctx: ExecContext, value: Any, word: str) -> bool:
    """The pack's ``flag == word`` (word "True" or "False"): a real boolean never equals it."""
    if ctx.saved_date is not None and ctx.saved_date >= BOOLEAN_FLAGS_SINCE:
        return False  # ComfyUI turned the BOOLEAN widget's value into a bool first
    return value == word


def _in_range(ctx: ExecContext, value: Any, min_value: float, max_value: float, include_min: Any,
              include_max: Any) -> bool:
    try:
        low = value >= min_value if _is_text_flag(ctx, include_min, "True") else value > min_value
        high = value <= max_value if _is_text_flag(ctx, include_max, "True") else value < max_value
    except TypeError:
        raise NodeInputError("value", f"value: expected a number, found {describe(value)}",
                             "connect an INT or FLOAT") from None
    return _verdict(low, "value") and _verdict(high, "value")


def _compare_length(container: Any, op: Any, length: int) -> tuple[bool, int]:
    try:
        actual = len(container)
    except (TypeError, AttributeError):
        return False, -1
    if op not in OPERATORS:
        raise NodeInputError("operator", f"operator is {op!r}; expected one of {', '.join(OPERATORS)}")
    return OPERATORS[op](actual, length), actual


def _string_comparison(ctx: ExecContext, string1: str, string2: str, op: Any, case_sensitive: Any) -> bool:
    if _is_text_flag(ctx, case_sensitive, "False"):
        string1, string2 = string1.lower(), string2.lower()
    if op not in OPERATORS:
        raise NodeInputError("operator", f"operator is {op!r}; expected one of {', '.join(OPERATORS)}")
    return OPERATORS[op](string1, string2)


define("Equal", [("value1", ANY), ("value2", ANY)], _compare(operator.eq, "=="))
define("NotEqual", [("value1", ANY), ("value2", ANY)], _compare(operator.ne, "!="))
define("LessThan", [("value1", ANY), ("value2", ANY)], _compare(operator.lt, "<"))
define("LessThanOrEqual", [("value1", ANY), ("value2", ANY)], _compare(operator.le, "<="))
define("GreaterThan", [("value1", ANY), ("value2", ANY)], _compare(operator.gt, ">"))
define("GreaterThanOrEqual", [("value1", ANY), ("value2", ANY)], _compare(operator.ge, ">="))
define("NumberInRange", [("value", ANY), ("min_value", read_float), ("max_value", read_float),
                         ("include_min", ANY), ("include_max", ANY)], _in_range, with_ctx=True)
define("CompareLength", [("container", ANY), ("operator", ANY), ("length", read_int)], _compare_length,
       outputs=2)
define("StringComparison", [("string1", read_text), ("string2", read_text), ("operator", ANY),
                            ("case_sensitive", ANY)], _string_comparison, with_ctx=True)


# --- BOOLEAN -----------------------------------------------------------------------------

def _and(a: Any, b: Any) -> Any:
    return b if truth(a, "input1") else a


def _or(a: Any, b: Any) -> Any:
    return a if truth(a, "input1") else b


def _xor(a: Any, b: Any) -> bool:
    return _verdict(a != b, "input2")


define("Boolean And", [("input1", ANY), ("input2", ANY)], _and, bare="BooleanAnd")
define("Boolean Or", [("input1", ANY), ("input2", ANY)], _or, bare="BooleanOr")
define("Boolean Nand", [("input1", ANY), ("input2", ANY)], lambda a, b: not truth(_and(a, b), "input2"),
       bare="BooleanNand")
define("Boolean Nor", [("input1", ANY), ("input2", ANY)], lambda a, b: not truth(_or(a, b), "input2"),
       bare="BooleanNor")
define("Boolean Xor", [("input1", ANY), ("input2", ANY)], _xor, bare="BooleanXor")
define("Boolean Not", [("input", ANY)], lambda a: not truth(a, "input"), bare="BooleanNot")


def _generic(combine: Any) -> Any:
    def run(ctx: ExecContext, invert: Any, **items: Any) -> tuple:
        verdict = combine(truth(value, name) for name, value in items.items())
        return (verdict ^ truth(invert, "invert"),)
    return run


executor(PREFIX + "Generic And")(_generic(all))
executor(PREFIX + "Generic Or")(_generic(any))


@executor(PREFIX + "IsNull", "IsNull")
def is_null(ctx: ExecContext, **inputs: Any) -> tuple:
    """``value is None``; an unconnected ``value`` is None."""
    return (inputs.get("value") is None,)


# --- casts -------------------------------------------------------------------------------

def _cast_int(value: Any) -> int:
    if isinstance(value, str) and len(value) > 10_000:
        raise NodeInputError("input", f"input: a text of {len(value)} characters is too long for a number")
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise NodeInputError("input", f"cannot convert {describe(value)} to an INT",
                             "give a whole number or its text (such as '42')") from None


def _cast_float(value: Any) -> float:
    try:
        return float(value)
    except (ValueError, TypeError, OverflowError):
        raise NodeInputError("input", f"cannot convert {describe(value)} to a FLOAT",
                             "give a number or its text (such as '1.5')") from None


def _cast_string(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_CHARS:
        raise NodeInputError("input", f"the text of {type(value).__name__} would have {len(text)} characters "
                             f"(at most {MAX_CHARS})")
    return text


define("CastToInt", [("input", ANY)], _cast_int)
define("CastToFloat", [("input", ANY)], _cast_float)
define("CastToString", [("input", ANY)], _cast_string)
define("CastToBoolean", [("input", ANY)], lambda value: truth(value, "input"))
