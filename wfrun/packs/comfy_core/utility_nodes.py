"""ComfyUI's "utilities" nodes of the Wan templates: CustomCombo (``comfy_extras/nodes_logic.py``),
PreviewAny ("Preview as Text", ``nodes_preview_any.py``) and CreateList (``nodes_toolkit.py``),
at the revision of our comfy-core specs.

* CustomCombo: a combo whose options the user typed in the frontend. The node gives the
  chosen text and its ``INDEX``. ComfyUI's backend returns whatever ``index`` the frontend
  queued; the frontend keeps it at the choice's place among the non-empty options, and
  saves ``[choice, index, option1, option2, …, ""]`` (earlier frontends: no index). wfrun takes a queued ``index`` (an
  API prompt), else the choice's place among the saved options (so a choice changed with
  ``--set`` moves the index too), else the saved index, else 0.
* PreviewAny: the value as text, as ComfyUI writes it — a string as is, a number or
  boolean by ``str``, anything else as indented JSON if it can be, else ``str`` (tensors
  with 6 items at each edge). ComfyUI shows the text in its window; wfrun logs it.
* CreateList: a list node (``is_input_list``, its output ``is_output_list``): every
  connected ``inputs.inputN`` arrives as a list (a list output's items, or a plain value
  as a list of one) and the output is their items in the order of the trailing numbers,
  which later nodes run on one at a time (``wfrun.engine.lists``). No input connected:
  ComfyUI gives an empty list, which fails in the next node; wfrun stops here, naming
  ``inputs.input0``.
* GetItemFromList (``nodes_toolkit.py``, with the generic loops): also a list node; the
  item at ``index`` (Python's indexing, so -1 is the last) of ``list``, given on as a list
  (an item that is itself a Python list is given as its items, as ComfyUI). An index out
  of range is refused by name, where ComfyUI fails with an IndexError.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_widgets

log = logging.getLogger(__name__)

#: Characters of a preview logged (the whole text is the node's output).
LOGGED_CHARS = 2000


@executor("CustomCombo")
def custom_combo(ctx: ExecContext, choice: Any, index: Any = None, **_: Any) -> tuple:
    if not isinstance(choice, str):
        raise NodeInputError("choice", f"choice: expected the chosen text, found {type(choice).__name__}")
    if index is None:
        rest = saved_widgets(ctx.workflow_json, ctx.node_id)[1:]
        saved_index = None
        if rest and isinstance(rest[0], int) and not isinstance(rest[0], bool):  # frontends that save the index
            saved_index, rest = rest[0], rest[1:]
        options = [v for v in rest if isinstance(v, str) and v]
        index = options.index(choice) if choice in options else (saved_index or 0)
    if isinstance(index, bool) or not isinstance(index, int):
        raise NodeInputError("index", f"index: expected a whole number, found {index!r}")
    return (choice, index)


def preview_text(source: Any) -> str:
    """PreviewAny's text for ``source`` (module docstring)."""
    if isinstance(source, str):
        return source
    if isinstance(source, (int, float, bool)):
        return str(source)
    if source is None:
        return "None"
    try:
        return json.dumps(source, indent=4)
    except (TypeError, ValueError, RecursionError):
        pass
    with torch._tensor_str.printoptions(edgeitems=6):
        try:
            return str(source)
        except Exception:  # a value whose __str__ fails: ComfyUI says so rather than stop
            return "source exists, but could not be serialized."


@executor("PreviewAny")
def preview_any(ctx: ExecContext, source: Any = None, **_: Any) -> tuple:
    text = preview_text(source)
    shown = text if len(text) <= LOGGED_CHARS else text[:LOGGED_CHARS] + f"… ({len(text):,} characters)"
    log.info("%s: %s", ctx.node_title or ctx.node_id or "PreviewAny", shown)
    return (text,)


def _autogrow_items(inputs: dict[str, Any], group: str) -> list[Any]:
    """The connected members of an Autogrow group (``inputs.input0``, ``inputs.input1``, …)
    in the order of their trailing numbers."""
    found = []
    for name, value in inputs.items():
        if name.startswith(group + ".") and value is not None:
            digits = re.search(r"(\d+)$", name)
            found.append((int(digits.group(1)) if digits else -1, name, value))
    return [value for _, _, value in sorted(found, key=lambda item: (item[0], item[1]))]


@executor("CreateList")
def create_list(ctx: ExecContext, **inputs: Any) -> tuple:
    items: list[Any] = []
    for value in _autogrow_items(inputs, "inputs"):
        if not isinstance(value, list):  # the engine hands a list node lists only
            raise NodeInputError("inputs", f"expected the engine's list of values, found {type(value).__name__}")
        items.extend(value)
    if not items:
        raise NodeInputError("inputs.input0", "no input is connected", "connect at least one value")
    return (items,)


@executor("GetItemFromList")
def get_item_from_list(ctx: ExecContext, index: Any, **inputs: Any) -> tuple:
    items = inputs.get("list")  # the input is named ``list``
    if not isinstance(items, list):  # the engine hands a list node lists only
        raise NodeInputError("list", "no list is connected", "connect a list (Create List, End Loop, ...)")
    position = index[0] if isinstance(index, list) and index else index
    if isinstance(position, bool) or not isinstance(position, int):
        raise NodeInputError("index", f"index: expected an INT, found {type(position).__name__}")
    if not -len(items) <= position < len(items):
        raise NodeInputError("index", f"index {position} is outside the list of {len(items)} items",
                             f"give an index from {-len(items)} to {len(items) - 1}")
    item = items[position]
    return (item if isinstance(item, list) else [item],)
