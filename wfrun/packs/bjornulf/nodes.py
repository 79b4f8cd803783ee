"""Bjornulf_DisplayNote ("📒 Note"): a note on the canvas wired into a link.

In the pack the node shows its ``display_text`` to the person editing the workflow and
returns its ``any`` input unchanged (``None`` stays ``None``). Users put it in the middle
of a link to label a value, so unlike a free-standing Note it is a real graph node whose
output feeds others: it cannot be dropped as display-only, it must hand the value on. The
text itself has no effect on a headless run.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor


@executor("Bjornulf_DisplayNote")
def display_note(ctx: ExecContext, any: Any = None, **_: Any) -> tuple:  # noqa: A002 - the pack's input name
    return (any,)
