"""Impact Pack's ImpactSwitch (``GeneralSwitch`` in ``modules/impact/util_nodes.py``; the
same ``doit`` from 2023-09 to the 8.x releases the public files carry).

``select`` chooses ``input<select>``; the node gives that input's value, the slot's label
and ``select`` itself. The label is the one the user gave the slot in the saved UI
workflow (the pack reads it from ``extra_pnginfo``: the input entry named ``input<select>``
with a ``label``), else the input's name; an API file has no UI workflow, so the name, as
the pack gives it there. A chosen input that is not connected gives ``None`` and an empty
label, as the pack does ("invalid select index (ignored)").

``input1`` … are numbered inputs the frontend adds as the user connects them. From
2024-08-16 (06b428e) ``input1`` is lazy, and the pack's ``check_lazy_status`` asks only for
the chosen input, so only the chosen branch runs. ``sel_mode`` (select_on_prompt) made the
same choice in the frontend when the prompt was queued for ComfyUI versions without lazy
inputs; the value is the same either way. ComfyUI treats every numbered input as lazy too
(the pack answers its input lookups with a container that holds every name): the spec
declares ``input1``, and the others are lazy where it is (``lazy_like``), so an unchosen
``input2``… never runs either.
"""

from __future__ import annotations

import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_node


def _select(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise NodeInputError("select", f"select: expected a whole number, found {value!r}")
    return int(value)


def _reads(inputs: dict[str, Any]) -> tuple[str, ...]:
    """The pack's ``check_lazy_status``: only ``input<select>``."""
    try:
        return (f"input{_select(inputs.get('select'))}",)
    except NodeInputError:
        return ("input1",)  # the run names the bad select


def _label(ctx: ExecContext, input_name: str) -> str:
    entry = saved_node(ctx.workflow_json, ctx.node_id)
    for slot in (entry or {}).get("inputs") or []:
        if isinstance(slot, dict) and slot.get("name") == input_name and "label" in slot:
            return slot["label"]
    return input_name


def _numbered(name: str) -> str | None:
    """``input2``, ``input3``… are lazy as ``input1`` is (from 2024-08-16)."""
    return "input1" if re.fullmatch(r"input[1-9][0-9]*", name) else None


@executor("ImpactSwitch", lazy=_reads, lazy_like=_numbered)
def impact_switch(ctx: ExecContext, select: Any, sel_mode: Any, **inputs: Any) -> tuple:
    index = _select(select)
    name = f"input{index}"
    if name not in inputs:
        return None, "", index
    return inputs[name], _label(ctx, name), index
