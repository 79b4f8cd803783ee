"""Comfy_KepListStuff's ``List Length`` (``nodes/list_utils.py``, the same from 2023-09-10
to the pack's last commit 9732054): the number of items of whatever reaches ``In``.

The node takes its input whole (``INPUT_IS_LIST``), so a list output linked there (a
split string, a prompt list) counts its items, and a plain value (an IMAGE batch, a
string) counts as one item: ComfyUI hands it over as a list of one.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor


@executor("List Length")
def list_length(ctx: ExecContext, In: list, **_: Any) -> tuple:
    return (len(In),)
