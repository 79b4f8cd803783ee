"""The pack's text nodes (``pyscripts/Nodes/Custom/Types.py``, ``Functions/Strings.py``):

* ``DF_Text`` and ``DF_Text_Box`` (one line / multiline): give ``Text`` unchanged;
* ``DF_String_Concatenate``: ``f"{Prepend}{Delimiter}{Append}"``, the delimiter kept even when
  a side is empty (the pack does so too: ``"a" + ", " + ""`` is ``"a, "``).

Unchanged since the ``DF_`` names came in (2024-04-24).
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor
from wfrun.nodes.values import text

_LIMIT = 1_000_000


@executor("DF_Text", "DF_Text_Box", pure=True)
def df_text(ctx: ExecContext, Text: Any, **_: Any) -> tuple:  # noqa: N803 (the pack's input name)
    return (text(Text, "Text", _LIMIT),)


@executor("DF_String_Concatenate", pure=True)
def df_string_concatenate(ctx: ExecContext, Prepend: Any, Append: Any, Delimiter: Any, **_: Any) -> tuple:  # noqa: N803
    return (text(Prepend, "Prepend", _LIMIT) + text(Delimiter, "Delimiter", _LIMIT) + text(Append, "Append", _LIMIT),)
