"""Loop node pairs, declared by their packs and run by the engine (``wfrun.engine.loops``).

ComfyUI runs a pack's for-loop by graph expansion: the close node returns a copy of the
nodes between the open and the close node, wired to run once more, until the loop is
done. wfrun does not rewrite the graph; it runs the same nodes again. What differs from
pack to pack is only which node opens and which closes a loop, which sockets carry the
values fed back, and what drives the iterations (a list's items, a counter). A pack says
that here, as data plus two small functions, and knows nothing of how the engine runs it.

The engine's contract, for one loop (``open`` and ``close`` nodes of one :class:`LoopKind`):

- the *body* is every planned node that depends on an output of ``open`` and that
  ``close`` depends on (plus any inner loop such a node belongs to);
- ``steps(open inputs)`` gives what each iteration sees (one entry per iteration);
- the carried values start as ``open``'s value inputs; in each iteration ``open``'s
  outputs are ``open_outputs(step, index, carried values)``, the body runs, and each value
  input ``close`` has connected becomes the carried value of that index (an unconnected
  one keeps its value, or becomes ``None`` where the kind says ``carries_unconnected=False``);
- after the last iteration, ``close``'s outputs are the carried values in slot order, or
  what ``close_result`` makes of every iteration's close inputs (ComfyUI's End Loop
  returns the values it collected, not the carried one);
- a *conditional* kind (a while loop: ``go_on`` set) has no count known beforehand: its
  ``steps`` may be endless, and after each iteration ``go_on(close inputs)`` says whether
  another one runs (the engine still bounds how many).

One close node type may close several open node types (Easy-Use's ``easy forLoopEnd`` closes
``easy forLoopStart`` and ``easy loadImagesForLoop``): each pair is its own kind, and the
engine picks the kind by the open node the close node's ``link_input`` comes from.

A kind whose close node has no link from its open node (ComfyUI core's Start Loop / End
Loop: the body is simply what lies between them) sets ``link_input=None``; the engine then
pairs a close node with the one open node of its kind that reaches it without passing
another close node of the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class LoopKind:
    """One pack's loop node pair (see the module docstring).

    ``value_input(i)`` is the name of the i-th carried value's input, on both nodes, or
    ``None`` when ``i`` is out of range; ``steps(inputs)`` returns an iterable of what
    each iteration sees (the engine bounds how many it takes; raise
    :class:`~wfrun.nodes.executor.NodeInputError` for a value that cannot drive a loop);
    ``open_outputs(step, index, values)`` returns the open node's outputs for one
    iteration; ``close_outputs(values)`` the close node's outputs after the last one."""

    pack: str
    open_type: str
    close_type: str
    #: The close node's input linked to the open node (how a close names its open node);
    #: None: no such link, the nodes are paired through the graph (module docstring).
    link_input: str | None
    value_input: Callable[[int], str | None]
    steps: Callable[[dict[str, Any]], Iterable[Any]]
    open_outputs: Callable[[Any, int, dict[int, Any]], tuple]
    close_outputs: Callable[[dict[int, Any]], tuple]
    #: The open node's input that drives the iterations (named in errors).
    count_input: str
    #: Whether a value input the close node leaves unconnected keeps its value from one
    #: iteration to the next (Power Flow), or becomes ``None`` after the first (a pack
    #: whose close node feeds back exactly what it received, nothing for an empty socket).
    carries_unconnected: bool = True
    #: ``value_input`` for the close node where its sockets are named otherwise than the
    #: open node's (ComfyUI core: ``initial_iteration_value`` in, ``next_iteration_value`` back).
    close_value_input: Callable[[int], str | None] | None = None
    #: ``close_result(every iteration's resolved close inputs, carried values)``: the close
    #: node's outputs, where they are not simply the carried values.
    close_result: Callable[[list[dict[str, Any]], dict[int, Any]], tuple] | None = None
    #: ``go_on(the close node's resolved inputs)``, after each iteration: whether another
    #: runs (a while loop's condition, computed by the body). None: ``steps`` decides alone.
    #: Raise :class:`~wfrun.nodes.executor.NodeInputError` for a value that is no condition.
    go_on: Callable[[dict[str, Any]], bool] | None = None
    #: The close node's input ``go_on`` reads (named in errors).
    go_on_input: str = ""
    #: Whether ``steps`` also takes the run's ``ExecContext`` (``steps(inputs, ctx)``): an
    #: open node that reads the run's folders (Easy-Use's loadImagesForLoop).
    steps_take_context: bool = False


_KINDS: dict[str, LoopKind] = {}
#: Every kind by (close type, open type).
_PAIRS: dict[tuple[str, str], LoopKind] = {}


def register_loop(kind: LoopKind) -> LoopKind:
    """Declare a loop node pair (at import of the pack, like ``@executor``)."""
    _KINDS.setdefault(kind.close_type, kind)
    _PAIRS[(kind.close_type, kind.open_type)] = kind
    return kind


def loop_kind_closed_by(class_type: str, open_type: str | None = None) -> LoopKind | None:
    """The loop kind whose close node is ``class_type`` (and, given, whose open node is
    ``open_type``; without it, the first kind registered for the close type, which tells
    how the close node names its open node)."""
    if open_type is not None:
        return _PAIRS.get((class_type, open_type))
    return _KINDS.get(class_type)


def loop_kinds() -> list[LoopKind]:
    return list(_PAIRS.values())


def numbered_values(prefix: str, most: int) -> Callable[[int], str | None]:
    """``value_input`` for sockets named ``<prefix>0`` … ``<prefix><most - 1>``."""

    def name(i: int) -> str | None:
        return f"{prefix}{i}" if 0 <= i < most else None

    return name
