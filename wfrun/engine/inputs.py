"""A node's inputs as the engine hands them on: as saved, plus the spec's widget defaults.

One function, shared by the planner (which evaluates cheap constant nodes to decide lazy
branches, ``wfrun.engine.lazy``) and the runner, so both see the same values."""

from __future__ import annotations

from typing import Any

from wfrun.graph.model import NodeInstance


def with_defaults(node: NodeInstance) -> dict[str, Any]:
    """Inputs as saved, plus spec defaults for widget inputs the file does not set
    (:meth:`NodeSpec.widget_defaults`: the saved signature's, then the newest one's)."""
    inputs = dict(node.inputs)
    if node.spec is not None:
        for name, value in node.spec.widget_defaults(node.signature).items():
            inputs.setdefault(name, value)
    return inputs
