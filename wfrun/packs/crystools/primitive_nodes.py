"""Crystools' ``Primitive string multiline [Crystools]`` (``nodes/primitive.py``: its
``execute`` has given ``string`` back unchanged in every commit since 2023-12-23)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Primitive string multiline [Crystools]")
def primitive_string_multiline(ctx: ExecContext, string: Any, **_: Any) -> tuple:
    if not isinstance(string, str):
        raise NodeInputError("string", f"string: expected a STRING, found {type(string).__name__}")
    return (string,)
