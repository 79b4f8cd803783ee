"""Easy-Use's ``easy cleanGpuUsed`` (``py/nodes/logic.py``): hands ``anything`` on unchanged.

In ComfyUI it first unloads every model and empties the CUDA cache, so that what follows has
the GPU to itself. wfrun's engine already frees each value after its last use and moves
models between devices itself, so here the node is a pure pass-through (it does not unload
the models later nodes still need)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Marks an input that is not connected.
_ABSENT: Any = object()


@executor("easy cleanGpuUsed")
def clean_gpu_used(ctx: ExecContext, anything: Any = _ABSENT, **_: Any) -> tuple:
    if anything is _ABSENT:
        raise NodeInputError("anything", "anything: nothing is connected", "connect the value to pass on")
    return (anything,)
