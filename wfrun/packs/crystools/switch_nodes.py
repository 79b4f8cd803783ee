"""Crystools' ``Switch image [Crystools]`` and ``Switch any [Crystools]`` (``nodes/switch.py``): ``on_true`` when
``boolean`` is true, else ``on_false``.

In the pack both images are *lazy*: only the chosen one is computed. wfrun's engine has no
lazy inputs, so both connected branches run before the switch picks one (as wfrun's core
If/Else Switch): the result is the same, the unchosen branch costs its time, and an error in
it stops the run where ComfyUI would have gone on. The chosen input left unconnected is an
error naming it.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.switches import switched_image


@executor("Switch image [Crystools]")
def switch_image(ctx: ExecContext, boolean: Any, on_true: Any = None, on_false: Any = None, **_: Any) -> tuple:
    return (switched_image(boolean, ("on_true", on_true), ("on_false", on_false)),)


@executor("Switch any [Crystools]")
def switch_any(ctx: ExecContext, boolean: Any, on_true: Any = None, on_false: Any = None, **_: Any) -> tuple:
    """``Switch any [Crystools]`` (``CSwitchBooleanAny``): as the image switch, for a value of
    any type (both inputs lazy in the pack; both branches run here)."""
    if not isinstance(boolean, (bool, int)):
        raise NodeInputError("boolean", f"expected a BOOLEAN, found {boolean!r}")
    name, chosen = ("on_true", on_true) if boolean else ("on_false", on_false)
    if chosen is None:
        raise NodeInputError(name, f"boolean is {bool(boolean)}, so {name} is used, but nothing is connected to it",
                             f"connect a value to {name}")
    return (chosen,)
