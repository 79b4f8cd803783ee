"""Input checks shared by the essentials executors: an IMAGE, a MASK, a whole number."""

from __future__ import annotations

from typing import Any


from wfrun.nodes.executor import NodeInputError
from wfrun.nodes.values import image, mask  # noqa: F401 (the pack's checks, shared)


def whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}")
    return int(value)


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError(name, f"{name}: expected a number, found {value!r}")
    return float(value)


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise NodeInputError(name, f"{name}: unknown option {value!r}", f"use one of {', '.join(options)}")
    return value
