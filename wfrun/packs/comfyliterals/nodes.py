"""ComfyLiterals' literals (``nodes.py``): Int and Float read their ``Number`` text with
Python's ``int()`` / ``float()`` (so ``"2"``, ``" 7 "`` and ``"1_000"`` are integers, ``"1.5"``
is not; ``"1e3"``, ``"inf"`` are floats), String gives its text. Text that does not parse
stops the run (the pack raises "Invalid value provided for INT/FLOAT")."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _text(value: Any, name: str) -> str:
    if isinstance(value, bool):
        raise NodeInputError(name, f"{name}: expected a number as text, found {value!r}")
    if isinstance(value, (int, float)):  # a value typed into an API prompt as a number
        return str(value)
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return value


@executor("Int")
def int_literal(ctx: ExecContext, Number: Any, **_: Any) -> tuple:  # noqa: N803 (the pack's input name)
    text = _text(Number, "Number")
    try:
        return (int(text),)
    except ValueError:
        raise NodeInputError("Number", f"Number: {text[:80]!r} is not a whole number",
                             "type an integer such as 2 or -16") from None


@executor("Float")
def float_literal(ctx: ExecContext, Number: Any, **_: Any) -> tuple:  # noqa: N803
    text = _text(Number, "Number")
    try:
        return (float(text),)
    except ValueError:
        raise NodeInputError("Number", f"Number: {text[:80]!r} is not a number", "type a number such as 1.5") from None


@executor("String")
def string_literal(ctx: ExecContext, String: Any, **_: Any) -> tuple:  # noqa: N803
    if not isinstance(String, str):
        raise NodeInputError("String", f"String: expected a STRING, found {type(String).__name__}")
    return (String,)
