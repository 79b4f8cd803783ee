"""What to run and in which order: output nodes, what they need, and when to free values.

Pure graph work, independent of the nodes (like ComfyUI's ``comfy_execution/graph.py``):
pick the output nodes, prune everything they do not need, order the rest topologically,
and record each value's last consumer so the runner can drop it right after.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from wfrun.graph.model import WorkflowGraph
from wfrun.nodes.executor import get_executor


@dataclass
class Plan:
    order: list[str]
    outputs: list[str]
    #: node id → the ids whose outputs may be freed after that node ran.
    free_after: dict[str, list[str]] = field(default_factory=dict)
    #: Nodes in the plan that wfrun cannot run (reported before any model loads).
    unsupported: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


class PlanError(Exception):
    """The workflow cannot be planned (nothing to output, or a loop)."""


def is_output_node(graph: WorkflowGraph, node_id: str) -> bool:
    node = graph.node(node_id)
    return bool(node.signature is not None and node.signature.output_node)


def make_plan(graph: WorkflowGraph, outputs: list[str] | None = None) -> Plan:
    outputs = outputs or sorted((i for i in graph.graph.nodes if is_output_node(graph, i)),
                                key=graph.order().index)
    if not outputs:
        raise PlanError("the workflow has no output node (VHS_VideoCombine, SaveImage, PreviewImage, …)")
    needed: set[str] = set(outputs)
    for node_id in outputs:
        needed |= nx.ancestors(graph.graph, node_id)
    try:
        order = [i for i in graph.order() if i in needed]
    except nx.NetworkXUnfeasible:
        raise PlanError("the workflow's links form a loop") from None
    last_use: dict[str, str] = {}
    for node_id in order:
        for source in graph.graph.predecessors(node_id):
            last_use[source] = node_id
    free_after: dict[str, list[str]] = {}
    for source, consumer in last_use.items():
        free_after.setdefault(consumer, []).append(source)
    unsupported = [i for i in order if get_executor(graph.node(i).class_type) is None]
    pruned = [i for i in graph.graph.nodes if i not in needed]
    return Plan(order, outputs, free_after, unsupported, pruned)
