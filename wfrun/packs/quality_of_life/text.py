"""QualityOfLifeSuit's ``Text _O`` (``src/QualityOfLifeSuit_Omar92.py``, class ``Text_O``;
unchanged from its first commit, 2023-03-29, to the last one stored, 2024-02-12).

The node returns its text with one space appended (``text + " "``), which reaches the
prompt encoder as written: wfrun keeps the space too.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Text _O", pure=True)
def text_o(ctx: ExecContext, text: Any, **_: Any) -> tuple:
    if not isinstance(text, str):
        raise NodeInputError("text", f"expected a STRING, found {type(text).__name__}")
    return (text + " ",)
