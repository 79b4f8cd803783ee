"""Easy-Use's ``easy showAnything`` (``py/nodes/logic.py``) and ``easy promptLine``
(``py/nodes/prompt.py``).

* ``easy showAnything`` takes its input whole (``INPUT_IS_LIST``) and shows it as text; its
  ``output`` is that text, not the value: each item a string as is, a number or boolean
  through ``str()``, a list item *replaces* the texts gathered so far with its own items,
  anything else through ``json.dumps`` (``str()`` where JSON cannot hold it: a tensor). One
  text gives that text; several (or none) give the Python list of them as one value. This
  is the pack from 2025-07-26 (14a1121) to 2026-01-23 (21b3c15). Before, ``json.dumps`` also
  wrote numbers and booleans (``true``, not ``True``); since, lists of more than 30 items are
  written as JSON text, other values as indented JSON, and ``None`` skipped. A workflow
  does not record which version it ran; the common cases (text, whole numbers) are the same
  in all three. The text is logged (shortened) since a headless run has no window.
* ``easy promptLine`` splits ``prompt`` at ``\\n``; with ``remove_empty_lines`` (2025-10-30
  on; absent before, so nothing removed) the blank lines are dropped; ``start_index`` is
  clamped into the lines (``max(0, min(start_index, len(lines) - 1))``) and at most
  ``max_rows`` lines from there are given as a list output (``OUTPUT_IS_LIST``), twice: as
  STRING and as COMBO. No lines give an empty list, which the engine refuses on the next
  node's input.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

#: The longest text logged for a shown value.
LOGGED_CHARS = 400


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def show_values(items: list) -> list:
    """The pack's texts for the items of its ``anything`` list."""
    values: list = []
    for value in items:
        if isinstance(value, list):
            values = value
        else:
            values.append(_shown(value))
    return values


@executor("easy showAnything")
def show_anything(ctx: ExecContext, **inputs: Any) -> tuple:
    items = inputs.get("anything")
    values = show_values(items if isinstance(items, list) else [])
    text = "\n".join(v if isinstance(v, str) else repr(v) for v in values)
    shown = text if len(text) <= LOGGED_CHARS else text[:LOGGED_CHARS] + f"… ({len(text):,} characters)"
    log.info("%s: %s", ctx.node_title or ctx.node_id or "easy showAnything", shown)
    return (values[0] if len(values) == 1 else values,)


#: When ``easy promptLine`` gained ``remove_empty_lines``.
EMPTY_LINES_OPTION = "2025-10-30"


@executor("easy promptLine")
def prompt_line(ctx: ExecContext, prompt: Any, start_index: Any, max_rows: Any,
                remove_empty_lines: Any, **_: Any) -> tuple:
    if not isinstance(prompt, str):
        raise NodeInputError("prompt", f"prompt: expected text, found {type(prompt).__name__}", "connect a STRING")
    for name, value in (("start_index", start_index), ("max_rows", max_rows)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}", "connect an INT")
    lines = prompt.split("\n")
    # a file saved before the option existed gets the newest default from the engine: its
    # pack kept blank lines
    if remove_empty_lines and not (ctx.saved_date and ctx.saved_date < EMPTY_LINES_OPTION):
        lines = [line for line in lines if line.strip()]
    start = max(0, min(start_index, len(lines) - 1))
    rows = lines[start:min(start + max_rows, len(lines))]
    return (rows, list(rows))
