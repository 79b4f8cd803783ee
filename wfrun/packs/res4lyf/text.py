"""TextBox1 / TextBox2 / TextBox3 (RES4LYF ``nodes_misc.py``): N multiline strings out as
``text1``..``textN``, unchanged (the pack returns its widgets as they are)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _texts(n: int, values: dict[str, Any]) -> tuple:
    out = []
    for i in range(1, n + 1):
        value = values.get(f"text{i}")
        if not isinstance(value, str):
            raise NodeInputError(f"text{i}", f"expected a string, got {type(value).__name__}")
        out.append(value)
    return tuple(out)


@executor("TextBox1")
def text_box1(ctx: ExecContext, text1: str, **_: Any) -> tuple:
    return _texts(1, {"text1": text1})


@executor("TextBox2")
def text_box2(ctx: ExecContext, text1: str, text2: str, **_: Any) -> tuple:
    return _texts(2, {"text1": text1, "text2": text2})


@executor("TextBox3")
def text_box3(ctx: ExecContext, text1: str, text2: str, text3: str, **_: Any) -> tuple:
    return _texts(3, {"text1": text1, "text2": text2, "text3": text3})
