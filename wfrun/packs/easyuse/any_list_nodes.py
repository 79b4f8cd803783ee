"""Easy-Use's ``easy lengthAnything`` and ``easy indexAnything`` (``py/nodes/logic.py``, the
same from 2025-02-03 to the 2026 V3 rewrite, apart from the negative indices of 2025-09-02).

Both take their input whole (``INPUT_IS_LIST``) and look at the node feeding ``any`` in the
queued prompt: whether that output is a list output (``OUTPUT_IS_LIST``). wfrun reads the
same from the workflow it runs (``ExecContext.workflow_json``, built as the run builds it,
so a Reroute or a Set/Get pair names the node at the far end, as the frontend's prompt
does) and the upstream node's signature.

* lengthAnything: the number of items when the upstream output is a list output or more
  than one item arrived; otherwise ``len`` of the one value (an IMAGE batch's frames, a
  string's characters, a LATENT dict's keys, a Python list's items, as Python's ``len``).
* indexAnything, same cases: item ``index`` of the list; of a tensor, frame ``index`` kept
  as a batch of one (``[index:index+1]``); of another value with a length, its ``index``-th
  element; a value without a length (or an empty one) passed on. Saved with the 2025-09-02
  signature or later, the index is clamped into range and a negative one counts from the
  end; saved earlier, Python's own indexing applies (an index out of range is the pack's
  IndexError; a negative one on a tensor gives an empty batch, as the pack's slice).

What the pack fails on (``len`` of a number, ``any`` set as a widget instead of linked, an
index out of range before 2025-09-02, a dict indexed by a number) stops with an error
naming the input. The first release (2025-01-30), whose nodes did not take lists, is
refused by name: wfrun follows the pack from 2025-02-03 on.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.formats.document import from_data
from wfrun.formats.errors import FormatError
from wfrun.graph.build import build
from wfrun.graph.model import LinkRef
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The signature dates (schemas/nodes/comfyui-easy-use.json) whose behaviour changed.
TAKES_LISTS_FROM = "2025-02-03"
CLAMPED_FROM = "2025-09-02"


def _check_release(ctx: ExecContext) -> None:
    if ctx.saved_date is not None and ctx.saved_date < TAKES_LISTS_FROM:
        raise NodeInputError("any", f"saved with Easy-Use's first release of this node ({ctx.saved_date}), which "
                             "did not take lists; wfrun follows the pack from 2025-02-03",
                             "re-save the workflow with a newer Easy-Use")


def upstream_is_list(ctx: ExecContext) -> bool:
    """Whether the output linked to this node's ``any`` is a list output (``OUTPUT_IS_LIST``)."""
    if ctx.workflow_json is None:
        raise NodeInputError("any", "the workflow itself is not available to see what feeds 'any'",
                             "run the node from a workflow file")
    try:
        graph = build(from_data(ctx.workflow_json, "<workflow>"))
    except FormatError as err:
        raise NodeInputError("any", f"the workflow cannot be read: {err}") from None
    own = graph.node(ctx.node_id) if ctx.node_id in graph.graph else None
    link = own.inputs.get("any") if own is not None else None
    if not isinstance(link, LinkRef):
        raise NodeInputError("any", "'any' is not linked to a node's output (the pack reads the link and fails)",
                             "link an output to 'any'")
    upstream = graph.node(link.node_id)
    signature = upstream.signature or (upstream.spec.latest if upstream.spec is not None else None)
    flags = tuple(o.is_list for o in signature.outputs) if signature is not None else ()  # OUTPUT_IS_LIST
    return bool(link.slot < len(flags) and flags[link.slot])


def _items(any: Any) -> list:
    if not isinstance(any, list) or not any:
        raise NodeInputError("any", "nothing arrived at 'any'")
    return any


@executor("easy lengthAnything", pure=True)
def length_anything(ctx: ExecContext, any: Any, **_: Any) -> tuple:
    _check_release(ctx)
    items = _items(any)
    if len(items) > 1 or upstream_is_list(ctx):
        return (len(items),)
    try:
        return (len(items[0]),)
    except TypeError:
        raise NodeInputError("any", f"a {type(items[0]).__name__} has no length (the pack's len() fails)") from None


def _clamped(index: int, length: int) -> int:
    if index < 0:
        index = length + index
    return min(max(0, index), length - 1)


def _whole(index: Any) -> int:
    value = index[0] if isinstance(index, list) and index else index
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError("index", f"index: expected a whole number, found {value!r}")
    return value


@executor("easy indexAnything", pure=True)
def index_anything(ctx: ExecContext, any: Any, index: Any, **_: Any) -> tuple:
    _check_release(ctx)
    items = _items(any)
    i = _whole(index)
    clamped = ctx.saved_date is None or ctx.saved_date >= CLAMPED_FROM
    try:
        if len(items) > 1 or upstream_is_list(ctx):
            return (items[_clamped(i, len(items)) if clamped else i],)
        value = items[0]
        if isinstance(value, torch.Tensor):
            if value.ndim == 0:
                raise NodeInputError("any", "a tensor without a batch axis cannot be indexed")
            j = _clamped(i, value.shape[0]) if clamped else i
            return (value[j:j + 1].clone(),)
        if clamped:
            if hasattr(value, "__len__") and len(value) > 0:
                return (value[_clamped(i, len(value))],)
            return (value,)
        return (value[i],)
    except (IndexError, KeyError, TypeError) as err:
        raise NodeInputError("index", f"index {i} cannot be taken from what arrived at 'any' "
                             f"({type(err).__name__}: {err}, as the pack fails)") from None
