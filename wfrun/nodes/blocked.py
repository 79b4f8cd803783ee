"""A node output that ComfyUI would block (``comfy_execution.graph.ExecutionBlocker``).

Several packs return an ``ExecutionBlocker`` on an output they did not fill (a switch's
untaken side, a memory node with nothing on its pass-through input): ComfyUI then skips every
node that reads it, silently. wfrun has no blocked values in its engine; such an output is a
:class:`Blocked`, which no executor accepts, so a node reading it stops the run with an error
naming its input instead of being skipped (the workflows seen read the filled side)."""

from __future__ import annotations


class Blocked:
    """An output ComfyUI would block; ``why`` names the node and the reason (its repr)."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why

    def __repr__(self) -> str:
        return f"<blocked by {self.why}>"
