"""ComfyUI's list semantics: list outputs, nodes run once per item, nodes that take lists whole.

In ComfyUI every output is a list of values (``execution.py``: ``get_input_data``,
``_map_node_over_list``, ``merge_result_data``); almost always a list of one, which is why
wfrun's engine passes plain values. The rules wfrun follows, from the node's signature
(``OutputSpec.is_list``, ``Signature.input_is_list``, both read from the pack):

- An output marked ``is_list`` (``OUTPUT_IS_LIST``) is a Python list the executor returns;
  its items are the values later nodes see, one at a time.
- A node that does not take lists (no ``INPUT_IS_LIST``) fed a list of several items runs
  once per item: call ``i`` gets item ``i`` of every list input, a shorter list repeating
  its last item, and every plain value (a widget, a plain output) as is. It runs as many
  times as its longest list input has items. Each of its outputs is then the list of the
  per-call results; an ``is_list`` output is the per-call lists joined end to end. So a
  SaveImage fed a list writes one file per item, as in ComfyUI.
- A node with ``input_is_list`` is called once, every input a whole list: a list output's
  items, or a one-item list holding a plain value or a widget.

How wfrun holds this, so that a workflow without lists runs exactly as before: a list of
one is its item (``ComfyUI``'s list of one *is* a plain value), and only a list of
another length is held as an :class:`ItemList`, which no executor ever receives (the
engine hands out its items, or a plain Python ``list`` to a node that takes lists). A node
with neither a list input nor list outputs nor ``input_is_list`` is called exactly as it
always was, with the same values.

Where wfrun differs from ComfyUI, on purpose: a list input with no items fails with an
error naming the input (ComfyUI runs the node with no arguments when every input is empty,
which fails inside it, or fails on an index error when a widget is there); a list longer
than :data:`MAX_LIST_ITEMS` is refused (a workflow from the internet must not be able to
make a node run a million times); and ``--smoke``'s caps on computed values
(``adjust`` below) are applied to each call's own values, and to a node that takes lists
only when none of its inputs is a list.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from wfrun.graph.model import NodeInstance
from wfrun.nodes.executor import NodeInputError
from wfrun.specs.spec import Signature

#: The most items one list may have, and so the most calls of one node per run.
MAX_LIST_ITEMS = 10_000

Call = Callable[[dict[str, Any]], tuple]
Adjust = Callable[[dict[str, Any]], dict[str, Any]]


class ItemList:
    """A list of values flowing between nodes (module docstring): never one item, and
    never handed to an executor as it is."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]):
        self.items = tuple(items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]

    def __repr__(self) -> str:
        return f"ItemList({len(self.items)} items)"


class ListError(NodeInputError):
    """A list the engine cannot map (empty, too long); names the input."""


def held(items: list[Any] | tuple[Any, ...]) -> Any:
    """How the engine holds a list of values: its item when there is one, else an ItemList."""
    return items[0] if len(items) == 1 else ItemList(items)


def items_of(value: Any) -> tuple[Any, ...]:
    """The values a held value stands for (a plain value stands for itself)."""
    return value.items if isinstance(value, ItemList) else (value,)


def _signature(node: NodeInstance) -> Signature | None:
    if node.signature is not None:
        return node.signature
    return node.spec.latest if node.spec is not None else None


def takes_lists(node: NodeInstance) -> bool:
    """Whether the node's class sets ``INPUT_IS_LIST`` (in the signature it was read with)."""
    signature = _signature(node)
    return bool(signature is not None and signature.input_is_list)


def list_outputs(node: NodeInstance) -> tuple[bool, ...]:
    """``OUTPUT_IS_LIST``, one flag per output slot of the node's signature."""
    signature = _signature(node)
    return tuple(o.is_list for o in signature.outputs) if signature is not None else ()


def needs_lists(node: NodeInstance, kwargs: dict[str, Any]) -> bool:
    """Whether running the node involves lists at all (else it runs on the plain path)."""
    return takes_lists(node) or any(list_outputs(node)) or any(isinstance(v, ItemList) for v in kwargs.values())


def run_node(node: NodeInstance, kwargs: dict[str, Any], call: Call, adjust: Adjust | None = None,
             between: Callable[[], None] | None = None) -> tuple:
    """The node's outputs as the engine holds them, calling ``call(inputs)`` once or once
    per item (module docstring). ``adjust``: a change to one call's plain inputs (``--smoke``);
    ``between``: run before every call after the first (Ctrl-C is honoured there)."""
    lists = {name: v for name, v in kwargs.items() if isinstance(v, ItemList)}
    if takes_lists(node):
        if not lists and adjust is not None:
            kwargs = adjust(kwargs)
        results = [call({name: list(items_of(v)) for name, v in kwargs.items()})]
    elif not lists:
        results = [call(adjust(kwargs) if adjust is not None else kwargs)]
    else:
        empty = next((name for name, v in lists.items() if not len(v)), None)
        if empty is not None:
            raise ListError(empty, f"{empty} is an empty list: nothing to run this node on",
                            "check the node that makes the list (a folder without images, a filter that kept nothing)")
        count = max(len(v) for v in lists.values())
        for name, v in lists.items():
            _check_length(name, len(v))
        results = []
        for index in range(count):
            if index and between is not None:
                between()
            one = {name: (v.items[min(index, len(v) - 1)] if isinstance(v, ItemList) else v)
                   for name, v in kwargs.items()}
            results.append(call(adjust(one) if adjust is not None else one))
    if len(results) == 1 and not any(list_outputs(node)):
        return results[0]  # one call and plain outputs: exactly what the executor returned
    return merge(node, results)


def merge(node: NodeInstance, results: list[tuple]) -> tuple:
    """One held value per output slot from the results of every call (``merge_result_data``):
    the per-call values, or for a list output the per-call lists joined."""
    flags = list_outputs(node)
    merged = []
    for slot in range(len(results[0])):
        if slot < len(flags) and flags[slot]:
            items: list[Any] = []
            for result in results:
                value = result[slot]
                if not isinstance(value, (list, tuple)):
                    raise TypeError(f"executor of {node.class_type} returned {type(value).__name__} for list "
                                    f"output {slot}, not a list")
                items.extend(value)
                _check_length(f"output {slot} ({_output_name(node, slot)})", len(items), output=True)
        else:
            items = [result[slot] for result in results]
        merged.append(held(items))
    return tuple(merged)


def _output_name(node: NodeInstance, slot: int) -> str:
    signature = _signature(node)
    spec = signature.outputs[slot] if signature is not None and slot < len(signature.outputs) else None
    return (spec.name or spec.type) if spec is not None else "?"


def _check_length(name: str, length: int, output: bool = False) -> None:
    """``name``: the input, or the output (then the error names no input: ``input_name`` "")."""
    if length > MAX_LIST_ITEMS:
        what = name if output else f"{name} is a list that"
        raise ListError("" if output else name, f"{what} has more than {MAX_LIST_ITEMS} items",
                        f"wfrun runs a node at most {MAX_LIST_ITEMS} times per list; make the list shorter")
