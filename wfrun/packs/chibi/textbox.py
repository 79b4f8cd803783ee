"""Chibi-Nodes' Textbox (``nodes/Textbox.py``): its ``text``, or the connected
``passthrough`` text when that is not empty (the pack then also shows it in the box).
Its first version (2023-11-21 to 2023-11-23) had one widget, ``textfield``, given as it is."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("Textbox")
def textbox(ctx: ExecContext, passthrough: Any = "", **inputs: Any) -> tuple:
    text = inputs["text"] if "text" in inputs else inputs.get("textfield")  # textfield: the signature of 2023-11-21
    for name, value in (("text", text), ("passthrough", passthrough)):
        if value is not None and not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return (passthrough if passthrough not in ("", None) else (text or ""),)
