"""Chibi-Nodes' ``Int2String`` (``chibi_nodes.py``, later ``nodes/Int2String.py``; the same
since it was added on 2023-11-27): Python's ``str(Int)``."""

from __future__ import annotations

from numbers import Real
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Int2String")
def int2string(ctx: ExecContext, Int: Any, **_: Any) -> tuple:
    # the pack's str() takes anything; a tensor or model printed as text is no use to a prompt
    if not isinstance(Int, (Real, str)):
        raise NodeInputError("Int", f"Int: expected an INT, found {type(Int).__name__}", "connect an INT")
    return (str(Int),)
