"""Power Flow's for-loop (``loop_control.py``): ForLoopOpen / ForLoopClose.

What the pack does, read from its code (first and only version, 2025-01-11): the open
node takes a ``list`` and values ``initial_value_<n>``; its outputs are ``reference``
(linked to the close node's ``open_node_link``), ``item`` and ``value_<n>``. When the close
node runs it expands into a while-loop over ``iter(list)``: each pass takes the next item;
while there is one, the body runs with that item and the values the close node received
in the pass before (the open node's ``initial_value_<n>`` in the first), and the close
node's connected ``initial_value_<n>`` inputs become the next pass's values; when the
items run out the body does not run again and the close node's ``value_<n>`` are the
values as they stand. So:

- the loop runs once per item of ``list`` (any Python iterable, as the pack calls
  ``iter``: a list, a ``range``, a string's characters); an empty list runs the body
  zero times and the close node gives the open node's initial values (``None`` where the
  open node has none);
- there is no counter or index output: ``item`` is the only per-iteration value;
- a close input that is not connected carries the open node's value unchanged;
- a node hanging off the body that the close node does not need gets the pack's
  ``ExecutionBlocker`` in ComfyUI, so it never runs (the engine skips it likewise).

The pack's sockets are unbounded (added by its JavaScript as they are connected); the
spec lists ``VALUES`` of them (``schemas/nodes/ComfyUI-Power-Flow.json``'s note).
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.loops import LoopKind, numbered_values, register_loop

OPEN = "ComfyUI_Power_Flow.ForLoopOpen"
CLOSE = "ComfyUI_Power_Flow.ForLoopClose"
#: How many ``initial_value_<n>`` / ``value_<n>`` sockets the spec lists.
VALUES = 32


class ForLink:
    """What the open node's ``reference`` output carries (the engine pairs the nodes by the
    link itself, so it holds nothing)."""


def _items(inputs: dict[str, Any]) -> Any:
    items = inputs.get("list")
    try:
        return iter(items)
    except TypeError:
        raise NodeInputError("list", f"list: expected something to iterate over, found {type(items).__name__}",
                             "connect a list (Empty List + Append To List, Int List, Range, …)") from None


def _open_outputs(item: Any, index: int, values: dict[int, Any]) -> tuple:
    return (ForLink(), item, *(values.get(i) for i in range(VALUES)))


def _close_outputs(values: dict[int, Any]) -> tuple:
    return tuple(values.get(i) for i in range(VALUES))


FOR_LOOP = register_loop(LoopKind(
    pack="ComfyUI-Power-Flow", open_type=OPEN, close_type=CLOSE, link_input="open_node_link",
    value_input=numbered_values("initial_value_", VALUES), steps=_items,
    open_outputs=_open_outputs, close_outputs=_close_outputs, count_input="list"))


@executor(OPEN, CLOSE)
def loop_end(ctx: ExecContext, **_: Any) -> tuple:
    """Reached only when a close node is not linked to its open node: the engine runs every
    linked pair itself (``wfrun.engine.loops``)."""
    raise NodeInputError("open_node_link", "this loop node is not linked to its For Loop Open/Close partner",
                         "link For Loop Open's 'reference' output to For Loop Close's 'open_node_link' input")
