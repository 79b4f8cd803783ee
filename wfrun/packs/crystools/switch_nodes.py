"""Crystools' ``Switch image [Crystools]`` and ``Switch any [Crystools]`` (``nodes/switch.py``): ``on_true`` when
``boolean`` is true, else ``on_false``.

In the pack both inputs are *lazy*: only the chosen one is computed, and so in wfrun
(``wfrun.engine.lazy``: the other branch is left out of the plan when ``boolean`` is a
constant, skipped at run time otherwise; a ``boolean`` that is not one makes both run, and
the switch names it). The chosen input left unconnected is an error naming it.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.switches import switched_image


def _reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    """The pack's ``check_lazy_status``: only the input ``boolean`` chooses is asked for."""
    boolean = inputs.get("boolean")
    if not isinstance(boolean, (bool, int)):
        return ("on_true", "on_false")  # the switch's run names the bad boolean
    return ("on_true",) if boolean else ("on_false",)


@executor("Switch image [Crystools]", lazy=_reads, pure=True)
def switch_image(ctx: ExecContext, boolean: Any, on_true: Any = None, on_false: Any = None, **_: Any) -> tuple:
    return (switched_image(boolean, ("on_true", on_true), ("on_false", on_false)),)


@executor("Switch any [Crystools]", lazy=_reads, pure=True)
def switch_any(ctx: ExecContext, boolean: Any, on_true: Any = None, on_false: Any = None, **_: Any) -> tuple:
    """``Switch any [Crystools]`` (``CSwitchBooleanAny``): as the image switch, for a value of
    any type (both inputs lazy, as in the pack)."""
    if not isinstance(boolean, (bool, int)):
        raise NodeInputError("boolean", f"expected a BOOLEAN, found {boolean!r}")
    name, chosen = ("on_true", on_true) if boolean else ("on_false", on_false)
    if chosen is None:
        raise NodeInputError(name, f"boolean is {bool(boolean)}, so {name} is used, but nothing is connected to it",
                             f"connect a value to {name}")
    return (chosen,)
