"""pysssss' ShowText (``py/show_text.py``, unchanged since 730f95b, 2024-03-14): an output
node that takes its ``text`` whole (``INPUT_IS_LIST``), shows it and passes the same list
on (``OUTPUT_IS_LIST``), so later nodes run once per text. The pack also writes the text into
the workflow saved with images (its ``widgets_values``); a headless run has no window, so
wfrun logs the texts (shortened) instead."""

from __future__ import annotations

import logging
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

LOGGED_CHARS = 400


@executor("ShowText|pysssss")
def show_text(ctx: ExecContext, text: Any = None, **_: Any) -> tuple:
    if not isinstance(text, list):  # the engine hands a list node lists only
        raise NodeInputError("text", f"expected the engine's list of texts, found {type(text).__name__}")
    for item in text:
        shown = str(item)
        shown = shown if len(shown) <= LOGGED_CHARS else shown[:LOGGED_CHARS] + f"… ({len(shown):,} characters)"
        log.info("%s: %s", ctx.node_title or ctx.node_id or "ShowText|pysssss", shown)
    return (list(text),)
