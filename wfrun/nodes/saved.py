"""A node's own saved entry in the workflow it runs in (``ExecContext.workflow_json``).

Some packs keep what their executor needs where the graph does not carry it: rgthree's
Power Lora Loader saves its LoRA rows as nameless widget values, and a node's
``properties.ver`` says which release of a pack saved it when two releases read the same
widgets differently. Executors look their node up here by id (``outer:inner`` inside
subgraphs, following each instance into its definition)."""

from __future__ import annotations

from typing import Any


def _find(nodes: Any, node_id: str) -> dict | None:
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and str(node.get("id")) == node_id:
            return node
    return None


def saved_node(workflow: Any, node_id: str) -> dict | None:
    """The saved UI entry of node ``node_id``, or None (an API file, or no such node)."""
    if not isinstance(workflow, dict) or not node_id:
        return None
    subgraphs = {s.get("id"): s for s in (workflow.get("definitions") or {}).get("subgraphs") or []
                 if isinstance(s, dict)}
    nodes: Any = workflow.get("nodes")
    parts = node_id.split(":")
    for depth, part in enumerate(parts):
        node = _find(nodes, part)
        if node is None or depth == len(parts) - 1:
            return node
        nodes = (subgraphs.get(node.get("type")) or {}).get("nodes")
    return None


def saved_widgets(workflow: Any, node_id: str) -> list[Any]:
    """The node's ``widgets_values`` list, empty when it has none."""
    values = (saved_node(workflow, node_id) or {}).get("widgets_values")
    return values if isinstance(values, list) else []


def saved_version(workflow: Any, node_id: str) -> str | None:
    """The node's ``properties.ver`` (the pack commit or release that saved it), if any."""
    props = (saved_node(workflow, node_id) or {}).get("properties")
    ver = props.get("ver") if isinstance(props, dict) else None
    return str(ver) if ver else None
