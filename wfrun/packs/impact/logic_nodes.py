"""Impact Pack's value nodes (``modules/impact/logics.py``) and StringSelector
(``modules/impact/util_nodes.py``, registered as ``ImpactStringSelector``).

* ImpactInt, ImpactFloat: the widget's value, passed on.
* ImpactMinMax: ``max(a, b)`` when ``mode`` is true (the widget's "max"), else ``min(a, b)``,
  with Python's comparison, on whatever two values are connected (its output is typed INT,
  but the pack returns what ``max``/``min`` give). Values Python cannot compare are an error.
* ImpactStringSelector: with ``multiline`` off, line number ``select`` of ``strings`` (split
  on "\\n"), counted modulo the number of lines. With ``multiline`` on, the text is cut into
  items before each line that starts with "#" (each item stripped of surrounding white
  space; text before the first such line is an item of its own), item ``select`` modulo the
  count is taken, and a leading "#" is dropped from it.
* ImpactIfNone: ``signal`` passed on, and whether ``any_input`` has a value.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("ImpactInt")
def impact_int(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise NodeInputError("value", f"value: expected a whole number, found {value!r}")
    return (int(value),)


@executor("ImpactFloat")
def impact_float(ctx: ExecContext, value: Any, **_: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError("value", f"value: expected a number, found {value!r}")
    return (float(value),)


@executor("ImpactMinMax")
def impact_min_max(ctx: ExecContext, mode: Any, a: Any = None, b: Any = None, **_: Any) -> tuple:
    if not isinstance(mode, (bool, int)):
        raise NodeInputError("mode", f"mode: expected a BOOLEAN (true: max, false: min), found {mode!r}")
    for name, value in (("a", a), ("b", b)):
        if value is None:
            raise NodeInputError(name, f"{name}: nothing is connected", f"connect a number to {name}")
    try:
        return ((max if mode else min)(a, b),)
    except TypeError:
        raise NodeInputError("b", f"b: cannot compare {type(a).__name__} with {type(b).__name__}",
                             "connect two numbers") from None


def _items(strings: str) -> list[str]:
    items: list[str] = []
    current = ""
    for line in strings.split("\n"):
        if line.startswith("#") and current:
            items.append(current.strip())
            current = ""
        current += line + "\n"
    if current:
        items.append(current.strip())
    return items


@executor("ImpactStringSelector")
def string_selector(ctx: ExecContext, strings: Any, multiline: Any, select: Any, **_: Any) -> tuple:
    if not isinstance(strings, str):
        raise NodeInputError("strings", f"strings: expected a STRING, found {type(strings).__name__}")
    if isinstance(select, bool) or not isinstance(select, int):
        raise NodeInputError("select", f"select: expected a whole number, found {select!r}")
    if not isinstance(multiline, (bool, int)):
        raise NodeInputError("multiline", f"multiline: expected a BOOLEAN, found {multiline!r}")
    if not multiline:
        lines = strings.split("\n")
        return (lines[select % len(lines)],)
    items = _items(strings)
    selected = items[select % len(items)] if items else strings
    return (selected[1:] if selected.startswith("#") else selected,)


@executor("ImpactIfNone", pure=True)
def impact_if_none(ctx: ExecContext, signal: Any = None, any_input: Any = None, **_: Any) -> tuple:
    """``signal`` passed on as ``signal_opt`` (None when nothing is connected) and ``bool``:
    whether ``any_input`` is connected to something that gave a value. The pack's README
    says the opposite ("true if any_input is None"); its code, since the node's first
    commit (2ffd006, 2024-01-30), returns False for None and True otherwise, and so does this."""
    return signal, any_input is not None
