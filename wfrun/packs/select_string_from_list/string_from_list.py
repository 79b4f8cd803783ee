"""``StringFromList`` (``string_select.py``, 1.0.0, unchanged since its first commit of
2025-02-15; a copy of GMapeSplat/ComfyUI_ezXY's node).

The node takes its inputs whole (``INPUT_IS_LIST``): ``list_input``, the list of strings (a
list output such as CR Prompt List's or CreaPrompt List's), and ``index``, one or more
indices. For each index it picks ``list_input[int(math.fmod(index, size))]``: ``fmod``
keeps the sign of the index, so ``-1`` is the last item, ``size + 1`` the second, and
``-size - 1`` the last again (Python's negative indexing). Outputs: ``list item``, one item
per index (a list), ``size`` (the list's length, one value) and ``wraps``, ``index // size``
per index (a list; floor division, so ``-1`` gives ``-1``).

An empty ``list_input`` fails in the pack (an index error after its ``wrapIndex`` warns of
a division by zero); wfrun names the input. The pack also takes float indices through a
link (``fmod`` of a float); wfrun takes whole numbers only, the ``INT`` the input declares.
"""

from __future__ import annotations

import math
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def pick(items: list[Any], indices: list[int]) -> tuple[list[Any], int, list[int]]:
    """The pack's ``pick`` for a non-empty list: (items picked, size, wraps)."""
    size = len(items)
    picked, wraps = [], []
    for index in indices:
        picked.append(items[int(math.fmod(index, size))])
        wraps.append(index // size)
    return picked, size, wraps


@executor("StringFromList")
def string_from_list(ctx: ExecContext, list_input: list, index: list, **_: Any) -> tuple:
    if not list_input:
        raise NodeInputError("list_input", "list_input is an empty list: there is no item to pick",
                             "connect a list of strings with at least one item")
    for value in index:
        if isinstance(value, bool) or not isinstance(value, int):
            raise NodeInputError("index", f"index: expected a whole number, found {value!r}", "connect an INT")
    return pick(list(list_input), list(index))
