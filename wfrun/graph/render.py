"""Showing a built graph: as text, Graphviz dot, JSON, or the API prompt ComfyUI queues.

A graph whose links loop has no execution order; it is still shown (listed by node id,
and said so), since seeing the loop is how a user finds it. The build's ``cycle``
diagnostic names the nodes on it.
"""

from __future__ import annotations

import json
from typing import Any

from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph


def _value_text(value: Any) -> str:
    if isinstance(value, LinkRef):
        return f"<- {value.node_id}.{value.slot}"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def graph_to_text(graph: WorkflowGraph) -> str:
    cyclic = graph.has_cycle()
    how = "links form a loop, so there is no execution order; listed by id" if cyclic else "in execution order"
    lines = [f"# {graph.source}: {len(graph)} nodes, {how}"]
    for step, node_id in enumerate(graph.display_order(), 1):
        node = graph.node(node_id)
        title = f" '{node.title}'" if node.title and node.title != node.class_type else ""
        lines.append(f"{step:3}. [{node_id}] {node.class_type}{title}")
        for name, value in node.inputs.items():
            lines.append(f"       {name} = {_value_text(value)}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_to_dot(graph: WorkflowGraph) -> str:
    lines = ["digraph workflow {", "  rankdir=LR;", "  node [shape=box];"]
    for node_id in graph.display_order():
        node = graph.node(node_id)
        lines.append(f"  {_dot_quote(node_id)} [label={_dot_quote(f'{node_id}: {node.label}')}];")
    for source, target, data in graph.graph.edges(data=True):
        label = f"{data['slot']}→{data['input']} ({data['type']})"
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, LinkRef):
        return {"link": {"node": value.node_id, "slot": value.slot, "type": value.type}}
    return value


def node_json(node: NodeInstance) -> dict[str, Any]:
    sig = node.signature
    return {
        "id": node.id,
        "class_type": node.class_type,
        "title": node.title,
        "signature": {"first_commit": sig.first_commit, "date": sig.date} if sig else None,
        "inputs": {k: _json_value(v) for k, v in node.inputs.items()},
        "outputs": node.output_types,
    }


def graph_to_json(graph: WorkflowGraph) -> str:
    order = graph.display_order()
    data = {
        "source": graph.source,
        "order": None if graph.has_cycle() else order,
        "nodes": [node_json(graph.node(i)) for i in order],
        "edges": [{"from": s, "to": t, "slot": d["slot"], "input": d["input"], "type": d["type"]}
                  for s, t, d in graph.graph.edges(data=True)],
    }
    return json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n"


def graph_to_api(graph: WorkflowGraph) -> dict[str, Any]:
    """The prompt the frontend would queue: named inputs, links as ``[id, slot]``."""
    prompt: dict[str, Any] = {}
    for node_id in graph.display_order():
        node = graph.node(node_id)
        inputs = {name: [value.node_id, value.slot] if isinstance(value, LinkRef) else value
                  for name, value in node.inputs.items()}
        prompt[node_id] = {"inputs": inputs, "class_type": node.class_type,
                           "_meta": {"title": node.title or node.class_type}}
    return prompt
