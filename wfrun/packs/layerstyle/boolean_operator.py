"""LayerStyle's ``LayerUtility: BooleanOperatorV2`` (``py/data_nodes.py``; the same from
2024-06-17, when the ``string`` output came, to the pack's HEAD; the 2024-06-15 signature
without it runs the same way).

``a`` and ``b`` are the linked values; an unlinked side takes the first number written in
its text widget (``a_value``/``b_value``, the pack's ``extract_all_numbers_from_str``: the
pattern ``[-+]?\\d*\\.?\\d+(?:[eE][-+]?\\d+)?``, each match a float, kept as an int when the
int equals it), or 0 when there is none. Then Python's own operator on the two:
``==``, ``!=``, ``>``, ``<``, ``>=``, ``<=``; ``and``/``or`` (Python's, so the value of one
side, not always a bool); ``xor`` as ``not (a == b)``; ``not(a)``; ``min``/``max``. The
outputs are that value and ``str`` of it.

What the pack fails on stops with an error naming the input: a text number too large for
an int (``1e999``), values Python cannot compare, and tensors (whose comparisons are
tensors, not one BOOLEAN). Texts over :data:`MAX_TEXT` characters are refused by name.
"""

from __future__ import annotations

import math
import operator as op
import re
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

NUMBER = re.compile(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?")
MAX_TEXT = 100_000

_OPERATORS = {
    "==": op.eq, "!=": op.ne, ">": op.gt, "<": op.lt, ">=": op.ge, "<=": op.le,
    "and": lambda a, b: a and b, "or": lambda a, b: a or b, "xor": lambda a, b: not (a == b),
    "not(a)": lambda a, b: not a, "min": min, "max": max,
}


def first_number(text: Any, name: str) -> int | float:
    if not isinstance(text, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise NodeInputError(name, f"{name} has {len(text):,} characters; wfrun reads at most {MAX_TEXT:,}")
    if text == "":
        return 0
    match = NUMBER.search(text)
    if match is None:
        return 0
    number = float(match.group())
    try:
        whole = int(number)
    except (OverflowError, ValueError):
        raise NodeInputError(name, f"{name}: {match.group()!r} is not a finite number (the pack's int() fails)") \
            from None
    return whole if math.isclose(number, whole, rel_tol=1e-19) else number


@executor("LayerUtility: BooleanOperatorV2", pure=True)
def boolean_operator_v2(ctx: ExecContext, a_value: Any, b_value: Any, operator: Any, a: Any = None, b: Any = None,
                        **_: Any) -> tuple:
    if operator not in _OPERATORS:
        raise NodeInputError("operator", f"operator {operator!r} is not one of {', '.join(_OPERATORS)}")
    left = first_number(a_value, "a_value") if a is None else a
    right = first_number(b_value, "b_value") if b is None else b
    for name, value in (("a", left), ("b", right)):
        if isinstance(value, torch.Tensor):
            raise NodeInputError(name, f"{name} is a tensor: its comparison is a tensor, not one BOOLEAN")
    try:
        result = _OPERATORS[operator](left, right)
    except TypeError as err:
        raise NodeInputError("operator", f"{operator} cannot be applied to {type(left).__name__} and "
                             f"{type(right).__name__}: {err}") from None
    return result, str(result)
