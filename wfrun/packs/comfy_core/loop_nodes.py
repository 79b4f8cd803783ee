"""ComfyUI's generic loops (``comfy_extras/nodes_loop.py``, PR #16227, read at Comfy-Org/ComfyUI
023f153c): Start Loop and End Loop, run by the engine (``wfrun.engine.loops``).

What ComfyUI does, read from its code: Start Loop's ``mode`` picks what drives the loop —
``simple``: ``num_iterations`` passes, ``iteration_index`` 0, 1, …; ``For``: ``iteration_index``
runs over ``range(start_iteration_index, max_iteration, step)``; ``List``: one pass per item
of ``list``, the item as ``list_item`` (None in the other modes). The body is every node
between the two (no link joins them; ComfyUI's front end marks the pair). In each pass the
opener gives ``iteration_index``, ``is_first``, ``is_last``, ``list_item`` and
``current_iteration_value``: ``initial_iteration_value`` in the first pass, then what End
Loop's ``next_iteration_value`` received in the pass before (left unconnected, the initial
value stays). ``terminations`` only make their sources run in every pass. End Loop's
``outputs`` is a list: every pass's ``output_value`` joined (``accumulate``), else the last
pass's; nothing when ``output_value`` is not connected or the loop ran no pass.

wfrun runs the same body again instead of expanding copies of it (the engine's loops);
``cache_iterations`` (reusing unchanged passes from an earlier run of ComfyUI's server) has
no meaning for one run and is ignored; ``parent_iteration`` only orders nested loops there,
which the engine's nesting does by itself.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.loops import LoopKind, register_loop

#: Start Loop's modes (its ``mode`` combo).
MODES = ("simple", "For", "List")


def _int(inputs: dict[str, Any], name: str, default: int) -> int:
    value = inputs.get(f"mode.{name}", default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError(f"mode.{name}", f"mode.{name}: expected an INT, found {type(value).__name__}")
    return value


def _held_items(value: Any) -> tuple:
    """The values a held input stands for: the engine holds a list of several as an object
    whose ``items`` is a tuple (``engine.lists.ItemList``), a list of one as the value."""
    items = getattr(value, "items", None)
    return items if isinstance(items, tuple) else (value,)


def _steps(inputs: dict[str, Any]) -> list[tuple[int, Any, int]]:
    """(iteration_index, list_item, number of passes) for each pass."""
    mode = inputs.get("mode", "simple")
    if mode not in MODES:
        raise NodeInputError("mode", f"mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "simple":
        count = _int(inputs, "num_iterations", 4)
        if count < 0:
            raise NodeInputError("mode.num_iterations", f"num_iterations is {count}", "give 0 or more")
        return [(i, None, count) for i in range(count)]
    if mode == "For":
        step = _int(inputs, "step", 1)
        if step == 0:
            raise NodeInputError("mode.step", "step must not be 0")
        values = range(_int(inputs, "start_iteration_index", 0), _int(inputs, "max_iteration", 4), step)
        return [(v, None, len(values)) for v in values]
    if "mode.list" not in inputs:
        raise NodeInputError("mode.list", "List mode needs its list connected", "connect a list to 'list'")
    items = _held_items(inputs["mode.list"])
    return [(i, item, len(items)) for i, item in enumerate(items)]


def _open_outputs(step: tuple[int, Any, int], index: int, values: dict[int, Any]) -> tuple:
    value, item, count = step
    return (value, index == 0, index == count - 1, item, values.get(0))


def _close_result(passes: list[dict[str, Any]], values: dict[int, Any]) -> tuple:
    if not passes:
        return ([],)
    chosen = passes if passes[-1].get("accumulate") else passes[-1:]
    return ([item for one in chosen if "output_value" in one for item in _held_items(one["output_value"])],)


def _carried(i: int) -> str | None:
    return "initial_iteration_value" if i == 0 else None


def _fed_back(i: int) -> str | None:
    return "next_iteration_value" if i == 0 else None


CORE_LOOP = register_loop(LoopKind(
    pack="comfy-core", open_type="StartLoop", close_type="EndLoop", link_input=None,
    value_input=_carried, close_value_input=_fed_back, steps=_steps, open_outputs=_open_outputs,
    close_outputs=lambda values: ([],), close_result=_close_result, count_input="mode"))


@executor("StartLoop", "EndLoop")
def unpaired_loop_node(ctx: ExecContext, **_: Any) -> tuple:
    """Reached only when the engine found no pair: it runs every Start Loop / End Loop pair
    itself (``wfrun.engine.loops``)."""
    raise NodeInputError("", "this loop node has no Start Loop / End Loop partner: an End Loop needs exactly "
                         "one Start Loop before it, with the loop's nodes between them",
                         "connect the loop's body from a Start Loop output to the End Loop")
