"""Mira's ``TextCombinerTwo`` (``Text.py``, the same since it was added on 2024-03-02):
``text1 + text2``, nothing in between."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("TextCombinerTwo")
def text_combiner_two(ctx: ExecContext, text1: Any, text2: Any, **_: Any) -> tuple:
    for name, value in (("text1", text1), ("text2", text2)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}", "connect a STRING")
    return (text1 + text2,)
