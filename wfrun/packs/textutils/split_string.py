"""``Text Utils - Split String to List`` (``split_string_node.py``, unchanged since it was
added on 2023-11-21): Python's ``text.split(separator)``, a list output
(``OUTPUT_IS_LIST``).

The separator is taken literally: a widget holding the two characters ``\\n`` splits on
a backslash followed by ``n``, not on line ends, as in the pack. An empty separator is an
error there (``ValueError: empty separator``); wfrun names the input.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Text Utils - Split String to List")
def split_string(ctx: ExecContext, text: Any, separator: Any, **_: Any) -> tuple:
    for name, value in (("text", text), ("separator", separator)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}", "connect a STRING")
    if not separator:
        raise NodeInputError("separator", "separator is empty; the pack's str.split refuses an empty separator",
                             "type the text to split at (for example / or ,)")
    return (text.split(separator),)
