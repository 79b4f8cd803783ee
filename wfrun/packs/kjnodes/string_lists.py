"""``AppendStringsToList`` of KJNodes (``nodes/nodes.py``): joins two strings, or lists of
strings, into one list (a string counts as a list of itself) — how the wrapper's ATI
examples gather several SplineEditor tracks into one ``tracks`` input."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@executor("AppendStringsToList")
def append_strings_to_list(ctx: ExecContext, string1: Any, string2: Any, **_: Any) -> tuple:
    return (_as_list(string1) + _as_list(string2),)
