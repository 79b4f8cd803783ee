"""KJNodes' JoinStrings (``nodes/nodes.py``): ``string1 + delimiter + string2`` (a missing
string is empty, as the pack's defaults)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("JoinStrings")
def join_strings(ctx: ExecContext, delimiter: Any, string1: Any = "", string2: Any = "", **_: Any) -> tuple:
    for name, value in (("delimiter", delimiter), ("string1", string1), ("string2", string2)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return (string1 + delimiter + string2,)
