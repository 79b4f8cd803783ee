"""KJNodes' LazySwitchKJ (``nodes/nodes.py``, since b37122a, 2025-08-20): ``on_true`` when
``switch`` is true, else ``on_false``.

Both branches are required and *lazy* in the pack: its ``check_lazy_status`` asks only for
the branch ``switch`` chooses, so the other one never runs; wfrun's engine does the same
(``wfrun.engine.lazy``: left out of the plan when ``switch`` is a constant, skipped at run
time otherwise). The pack takes ``switch``'s Python truthiness; wfrun takes a BOOLEAN or a
number, and names anything else.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Marks a branch that is not connected (``None`` is what a skipped lazy branch gives).
_ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "<not connected>"})()


def _chosen(switch: Any) -> str:
    if switch is not None and not isinstance(switch, (bool, int, float)):
        raise NodeInputError("switch", f"switch: expected a BOOLEAN, found {type(switch).__name__}",
                             "connect a BOOLEAN")
    return "on_true" if switch else "on_false"


def _reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    """The pack's ``check_lazy_status``: only the chosen branch is asked for."""
    try:
        return (_chosen(inputs.get("switch")),)
    except NodeInputError:
        return ("on_false", "on_true")  # the node's run names the bad switch


@executor("LazySwitchKJ", lazy=_reads, pure=True)
def lazy_switch(ctx: ExecContext, switch: Any = None, on_false: Any = _ABSENT, on_true: Any = _ABSENT,
                **_: Any) -> tuple:
    name = _chosen(switch)
    value = on_true if name == "on_true" else on_false
    if value is _ABSENT:
        raise NodeInputError(name, f"switch is {bool(switch)}, but {name} is not connected",
                             f"connect {name} (the branch the switch chooses)")
    return (value,)
