"""ComfyUI's StringConcatenate (``comfy_extras/nodes_string.py``): ``string_a``, the
``delimiter`` and ``string_b``, joined (``delimiter.join((a, b))``)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return value


@executor("StringConcatenate")
def string_concatenate(ctx: ExecContext, string_a: Any, string_b: Any, delimiter: Any, **_: Any) -> tuple:
    return (text(delimiter, "delimiter").join((text(string_a, "string_a"), text(string_b, "string_b"))),)
