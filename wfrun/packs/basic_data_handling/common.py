"""What the pack's executors share: reading inputs, size limits, and registering one node
under both its names from a table row (name, its inputs and how each is read, the operation).

Inputs are read the way ComfyUI hands them to the pack: an INT widget through ``int()`` (a
bool is 1 or 0, a whole float its integer), a FLOAT one through ``float()``; STRING inputs
must be text. A value that cannot be read so is a NodeInputError naming the input. The
operation then runs as the pack runs it; an ``ArithmeticError``, ``ValueError`` or
``TypeError`` it raises (a math domain error, an overflow) becomes a NodeInputError naming
the input the row blames.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

PREFIX = "Basic data handling: "
#: Integers wider than this are refused (ComfyUI's INT is 64-bit; this leaves room).
MAX_INT_BITS = 4096
#: Strings longer than this are refused (a prompt is never that long).
MAX_CHARS = 1_000_000
#: Text read as a number is at most this long (``int()`` of hex text is not bounded).
MAX_NUMBER_TEXT = 10_000

Reader = Callable[[Any, str], Any]
#: An input of a table row: (name, reader) or (name, reader, the pack's Python default for an
#: optional input the spec gives no widget default, used when the input is absent).
Param = tuple


def describe(value: Any) -> str:
    text = f"{type(value).__name__} {value!r}" if isinstance(value, (int, float, str, bool, type(None))) \
        else type(value).__name__
    return text[:120]


def read_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise NodeInputError(name, f"{name}: expected a whole number (INT), found {describe(value)}",
                         f"set '{name}' to a whole number or connect an INT output")


def read_float(value: Any, name: str) -> float:
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            pass
    raise NodeInputError(name, f"{name}: expected a number (FLOAT), found {describe(value)}",
                         f"set '{name}' to a number or connect a FLOAT output")


def read_number_text(value: Any, name: str) -> float:
    """The pack's ``float(value)`` of its NUMBER inputs shown as text widgets: numbers and
    number text (``"2"``, ``" 1e3 "``, ``"inf"``) alike."""
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise NodeInputError(name, f"{name}: a text of {len(value)} characters is not a number")
    if isinstance(value, (int, float, str)):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    raise NodeInputError(name, f"{name}: expected a number, found {describe(value)}",
                         f"set '{name}' to a number such as 1.5")


def read_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {describe(value)}",
                             f"connect a STRING output to '{name}'")
    return value


def read_any(value: Any, name: str) -> Any:
    return value


def read_list(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise NodeInputError(name, f"{name}: expected a LIST, found {describe(value)}",
                             f"connect a LIST output to '{name}'")
    return value


def bounded_int(value: Any, name: str) -> Any:
    """``value`` if it is not an integer wider than :data:`MAX_INT_BITS` bits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise NodeInputError(name, f"the result would have {value.bit_length()} bits (at most {MAX_INT_BITS})",
                             f"use a smaller '{name}'")
    return value


def check_length(length: int, name: str) -> None:
    """Refuse, before building it, a string of ``length`` characters past :data:`MAX_CHARS`."""
    if length > MAX_CHARS:
        raise NodeInputError(name, f"the result would have {length} characters (at most {MAX_CHARS})",
                             f"use a smaller '{name}'")


_MISSING = object()


def _value(inputs: dict[str, Any], name: str, fallback: Any = _MISSING) -> Any:
    value = inputs.get(name, fallback)
    if value is _MISSING:
        raise NodeInputError(name, f"{name}: the input is not set", f"connect or set '{name}'")
    return value


def define(name: str, params: Sequence[Param], compute: Callable[..., Any], *,
           blame: str | None = None, bare: str | None = "", outputs: int = 1,
           with_ctx: bool = False) -> Callable[..., tuple]:
    """Register the executor of ``Basic data handling: <name>`` (and of the bare name: ``name``
    itself when ``bare`` is ``""``, another name, or none when ``None``).

    ``params``: the node's inputs in the operation's argument order, each with its reader
    (and a fallback, see :data:`Param`).
    ``compute(*values)`` (``compute(ctx, *values)`` with ``with_ctx``) gives the node's one
    output, or its ``outputs`` outputs as a tuple. ``blame``: the input an arithmetic error
    is laid to (the first one by default)."""
    blamed = blame or (params[0][0] if params else "")

    def run(ctx: ExecContext, **inputs: Any) -> tuple:
        values = [param[1](_value(inputs, param[0], *param[2:]), param[0]) for param in params]
        try:
            result = compute(ctx, *values) if with_ctx else compute(*values)
        except NodeInputError:
            raise
        except (ArithmeticError, ValueError, TypeError) as err:
            raise NodeInputError(blamed, f"{name}: {blamed} {_shown(inputs.get(blamed))} gives no result "
                                 f"({err})", f"change '{blamed}'") from None
        return tuple(result) if outputs > 1 else (result,)

    run.__name__ = run.__qualname__ = "bdh_" + name.replace(" ", "_")
    names = [PREFIX + name]
    if bare is not None:
        names.append(bare or name)
    executor(*names)(run)
    return run


def _shown(value: Any) -> str:
    return repr(value)[:60] if isinstance(value, (int, float, str, bool)) else f"({type(value).__name__})"

