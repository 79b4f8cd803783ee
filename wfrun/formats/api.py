"""ComfyUI's API "prompt" format: what the frontend queues to ``/prompt``.

``{"<node id>": {"class_type": ..., "inputs": {name: constant | [node_id, slot]}}}``.
All frontend-only constructs (reroutes, primitives, bypass) are already resolved in it,
and inputs are named, so it maps almost one to one onto wfrun's graph.
"""

from __future__ import annotations

from typing import Any

from pydantic import RootModel, StrictStr

from wfrun.formats.kept import KeptModel


class ApiNode(KeptModel):
    class_type: StrictStr
    inputs: dict[str, Any]


class ApiPrompt(RootModel[dict[str, ApiNode]]):
    """The whole prompt, keyed by node id (a string)."""

    def dump(self) -> Any:
        return {key: node.dump() for key, node in self.root.items()}


def is_link(value: Any) -> bool:
    """Whether an API input value is a link ``[node_id, output_slot]``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )
