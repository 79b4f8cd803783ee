"""Power Flow's literal nodes (``basic_types.py``): Int and Float hand their widget value on
as it is, like the pack (ComfyUI has already checked the widget's type)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor


@executor("ComfyUI_Power_Flow.Int", "ComfyUI_Power_Flow.Float")
def value_literal(ctx: ExecContext, value: Any) -> tuple:
    return (value,)
