"""The pack's IfElse and FlowSelect (``control_flow_nodes.py``).

* IfElse: ``if_true`` when ``condition`` is true, else ``if_false``; both branches are lazy
  and the pack asks only for the chosen one, so the other never runs (wfrun's engine does
  the same, :mod:`wfrun.engine.lazy`). The pack asks for a branch only when ``condition``
  *is* ``True`` or ``False``; any other value would get neither branch and give ``None``:
  wfrun refuses such a condition on ``condition`` instead.
* FlowSelect: ``value`` on the ``true`` output when ``select`` is true, else on ``false``;
  the other output is an ``ExecutionBlocker`` in the pack, so ComfyUI skips the nodes that
  read it. wfrun has no blocked values: that output is :data:`BLOCKED`, which no executor
  accepts, so a node reading it stops the run with an error naming its input, where ComfyUI
  would skip it silently (the workflows that use FlowSelect read the chosen side).
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.blocked import Blocked
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.basic_data_handling.common import PREFIX, describe
from wfrun.packs.basic_data_handling.data_lists import _names


#: FlowSelect's output on the side ``select`` did not choose.
BLOCKED = Blocked("FlowSelect: ComfyUI skips the nodes that read this output")


def _condition(value: Any) -> bool:
    if not isinstance(value, bool):
        raise NodeInputError("condition", f"condition: expected a BOOLEAN, found {describe(value)}; the pack "
                             "takes neither branch then", "connect a BOOLEAN")
    return value


def _reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    """The pack's ``check_lazy_status``: only the branch ``condition`` chooses."""
    condition = inputs.get("condition")
    if condition is True:
        return ("if_true",)
    if condition is False:
        return ("if_false",)
    return ("if_true", "if_false")  # the run names the bad condition


@executor(*_names("IfElse"), lazy=_reads, pure=True)
def if_else(ctx: ExecContext, condition: Any = None, if_true: Any = None, if_false: Any = None,
            **_: Any) -> tuple:
    return (if_true if _condition(condition) else if_false,)


@executor(PREFIX + "FlowSelect")
def flow_select(ctx: ExecContext, value: Any = None, select: Any = None, **_: Any) -> tuple:
    if select is None or not isinstance(select, (bool, int, float)):
        raise NodeInputError("select", f"select: expected a BOOLEAN, found {describe(select)}", "connect a BOOLEAN")
    return (value, BLOCKED) if select else (BLOCKED, value)
