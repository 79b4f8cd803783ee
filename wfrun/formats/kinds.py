"""Which of ComfyUI's two workflow formats a JSON value is, by its shape alone."""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["ui", "api"]


def detect_kind(data: Any) -> Kind | None:
    """UI files have a ``nodes`` list; API prompts map ids to ``class_type`` objects."""
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        return "ui"
    if isinstance(data, dict) and data and all(
        isinstance(v, dict) and "class_type" in v for v in data.values()
    ):
        return "api"
    return None


def describe(value: Any) -> str:
    """A few words on what a JSON value is, for "found ..." in messages."""
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:5]) + (", ..." if len(value) > 5 else "")
        return f"an object with keys {keys}" if value else "an empty object"
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")


EXPECTED = ("expected a UI workflow (an object with a 'nodes' list) or an API prompt (an object of "
            "nodes with 'class_type')")
