"""TextConcatenate (RES4LYF ``nodes_misc.py``): ``text_1 + separator + text_2``.

As the pack: both texts are sockets that default to an empty string when unlinked, and the
separator goes in even when one side is empty (``"a" + ", " + ""`` is ``"a, "``)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("TextConcatenate")
def text_concatenate(ctx: ExecContext, text_1: Any = "", text_2: Any = "", *, separator: Any, **_: Any) -> tuple:
    for name, value in (("text_1", text_1), ("text_2", text_2), ("separator", separator)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"expected a string, got {type(value).__name__}")
    return (text_1 + separator + text_2,)
