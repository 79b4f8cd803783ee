"""Easy-Use's for-loop (``py/nodes/logic.py``): ``easy forLoopStart`` / ``easy forLoopEnd``.

What the pack does, read from its code (4de1ab3, the spec's revision; the pair has worked
this way since it was added): the start node takes ``total`` and values
``initial_value1`` … ``initial_value19``; its outputs are ``flow`` (linked to the end
node's ``flow`` input), ``index`` and ``value1`` … ``value19``. The end node expands into
the pack's while-loop: after each pass it computes ``index + 1`` (``easy mathInt``) and
loops again while ``index + 1 < total`` (``easy compare``), handing the start node's
clone that index (its hidden ``initial_value0``) and the values the end node received.
So:

- the body runs with ``index`` 0, 1, … and stops after the pass whose ``index + 1`` is
  not below ``total``: ``total`` passes, and **at least one**: the body has already run
  once when the end node first compares, so a ``total`` of 0 or less (possible through a
  link; the widget stops at 1) still runs it once, with index 0;
- ``index`` starts at the hidden ``initial_value0`` where a prompt gives one (the pack's
  own clones use it), else 0;
- a value the end node leaves unconnected is not carried: the pack hands the clone
  nothing for it, so from the second pass on the start node gives ``None`` there, and the
  end node's output for it is ``None`` (``LoopKind.carries_unconnected=False``).

Differences from the pack, both deliberate:

- a node hanging off the body that the end node does not need is blocked (never runs),
  as for every loop in wfrun (``wfrun.engine.loops``). In ComfyUI such a node runs once
  with the first pass's values, and an output node linked straight from a body node (a
  preview) is cloned into every pass;
- the end node also closes ``easy loadImagesForLoop`` (a directory walk), as in the pack:
  that pair is its own loop kind (:mod:`.images_loop`).

Easy-Use's while-loop (same file and revision): ``easy whileLoopStart`` takes
``condition`` and values ``initial_value0`` … ``initial_value19``, and gives ``flow`` and
``value0`` … ``value19``; ``easy whileLoopEnd`` takes ``flow`` (linked from the start
node), ``condition`` and the same value inputs, and gives ``value0`` … ``value19``. In the
pack:

- the start node passes its values on when ``condition`` is true; when it is false it gives
  ``ExecutionBlocker``s, so nothing that depends on the loop runs at all. Its ``condition``
  cannot depend on the body (that would be a cycle), so it is the same in every pass: only
  the first pass asks it;
- after each pass the end node looks at its own ``condition`` (Python truthiness): false,
  it returns the values it received in that pass (``None`` for an unconnected socket); true,
  it expands one more pass whose start node gets exactly those values (so, as in the
  for-loop, an unconnected value becomes ``None`` from the second pass on). The body runs
  **at least once** whatever the end node's condition says.

wfrun runs it as a conditional loop kind (``LoopKind.go_on``): passes go on while the end
node's condition is true, at most ``wfrun.engine.loops.MAX_ITERATIONS`` of them (a
condition that stays true is refused by name, not run forever). Differences from the pack:
a false start ``condition`` is refused (wfrun cannot block the rest of the workflow at run
time the way ComfyUI does; the user is told to make it true or bypass the loop); a
condition must be a BOOLEAN, number, string or nothing (the pack would also take any
object's truthiness; a tensor's is an error there anyway); nodes hanging off the body are
blocked, as for the for-loop above.
"""

from __future__ import annotations

from itertools import count
from numbers import Real
from typing import Any, Callable, Iterator

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.loops import LoopKind, register_loop

START = "easy forLoopStart"
END = "easy forLoopEnd"
#: The pack's MAX_FLOW_NUM: sockets ``initial_value1`` … ``initial_value19`` (0 is the hidden index).
FLOW_NUM = 20
VALUES = FLOW_NUM - 1


class FlowControl:
    """What the start node's ``flow`` output carries (the engine pairs the nodes by the link
    itself, so it holds nothing)."""


def _value_input(i: int) -> str | None:
    return f"initial_value{i + 1}" if 0 <= i < VALUES else None


def _number(inputs: dict[str, Any], name: str, default: Any) -> Real:
    value = inputs.get(name, default)
    if not isinstance(value, Real):
        raise NodeInputError(name, f"{name}: expected a number, found {type(value).__name__}",
                             "connect an INT (the number of passes)" if name == "total" else None)
    return value


def _indices(inputs: dict[str, Any]) -> Iterator[int]:
    total = _number(inputs, "total", None)
    index = _number(inputs, "initial_value0", 0)
    return _count_until(index, lambda i: i < total)


def _count_until(index: Real, go_on: Callable[[Real], bool]) -> Iterator[Real]:
    """``index``, then one more each pass while ``go_on(next index)``: the pack tests after
    the pass, so the first one always runs."""
    while True:
        yield index
        index = index + 1
        if not go_on(index):
            return


def _start_outputs(index: int, _: int, values: dict[int, Any]) -> tuple:
    return (FlowControl(), index, *(values.get(i) for i in range(VALUES)))


def _end_outputs(values: dict[int, Any]) -> tuple:
    return tuple(values.get(i) for i in range(VALUES))


FOR_LOOP = register_loop(LoopKind(
    pack="comfyui-easy-use", open_type=START, close_type=END, link_input="flow",
    value_input=_value_input, steps=_indices, open_outputs=_start_outputs, close_outputs=_end_outputs,
    count_input="total", carries_unconnected=False))


@executor(START, END)
def for_loop_unlinked(ctx: ExecContext, **_: Any) -> tuple:
    """Reached only when an end node is not linked to a start node: the engine runs every
    linked pair itself (``wfrun.engine.loops``)."""
    raise NodeInputError("flow", "this For Loop node is not linked to its For Loop Start/End partner",
                         "link For Loop Start's 'flow' output to For Loop End's 'flow' input "
                         "(wfrun runs For Loop End only after For Loop Start)")


WHILE_START = "easy whileLoopStart"
WHILE_END = "easy whileLoopEnd"


def _while_value_input(i: int) -> str | None:
    return f"initial_value{i}" if 0 <= i < FLOW_NUM else None


def _truth(inputs: dict[str, Any], name: str) -> bool:
    """The pack's ``if condition`` on a value a workflow can put there."""
    value = inputs.get(name)
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise NodeInputError(name, f"{name}: expected a BOOLEAN, found {type(value).__name__}",
                             "connect a BOOLEAN (a comparison's result)")
    return bool(value)


def _while_passes(inputs: dict[str, Any]) -> Iterator[int]:
    if not _truth(inputs, "condition"):
        raise NodeInputError("condition", "While Loop Start's condition is false: in ComfyUI nothing that "
                             "depends on this loop runs then, which wfrun cannot do at run time",
                             "make the condition true, or bypass the loop's nodes")
    return count()


def _while_start_outputs(_: int, __: int, values: dict[int, Any]) -> tuple:
    return (FlowControl(), *(values.get(i) for i in range(FLOW_NUM)))


def _while_end_outputs(values: dict[int, Any]) -> tuple:
    return tuple(values.get(i) for i in range(FLOW_NUM))


WHILE_LOOP = register_loop(LoopKind(
    pack="comfyui-easy-use", open_type=WHILE_START, close_type=WHILE_END, link_input="flow",
    value_input=_while_value_input, steps=_while_passes, open_outputs=_while_start_outputs,
    close_outputs=_while_end_outputs, count_input="condition", carries_unconnected=False,
    go_on=lambda inputs: _truth(inputs, "condition"), go_on_input="condition"))


@executor(WHILE_START, WHILE_END)
def while_loop_unlinked(ctx: ExecContext, **_: Any) -> tuple:
    """Reached only when an end node is not linked to a start node (see ``for_loop_unlinked``)."""
    raise NodeInputError("flow", "this While Loop node is not linked to its While Loop Start/End partner",
                         "link While Loop Start's 'flow' output to While Loop End's 'flow' input "
                         "(wfrun runs While Loop End only after While Loop Start)")
