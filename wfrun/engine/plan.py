"""What to run and in which order: output nodes, what they need, and when to free values.

Pure graph work, independent of the nodes (like ComfyUI's ``comfy_execution/graph.py``):
pick the output nodes, prune everything they do not need, order the rest topologically,
and record each value's last consumer so the runner can drop it right after.

Lazy inputs (``wfrun.engine.lazy``): a switch whose choice is known from constants has its
untaken branch pruned here (``Plan.untaken``, with why); where a choice waits for computed
values, what decides it is ordered first and what it may leave unread last, so the runner
can skip that.

A graph the build found no sound way to read is refused here, with the build's own
diagnostics: links that loop (no order exists), node ids used twice (links cannot say
which node they mean), and files over wfrun's size limits (the graph is incomplete).
So is a link to an output slot the node does not have: the runner would fail on it only
after the models were loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.graph.model import CycleError, WorkflowGraph
from wfrun.engine import lazy
from wfrun.engine.executors import get_executor
from wfrun.graph.display import DISPLAY_ONLY  # the planner's skip list (shared with the checks)

#: Build problems that leave no sound graph to run (see the module docstring).
REFUSED = frozenset({"cycle", "duplicate-node-id", "too-many-nodes", "too-many-links", "subgraph-too-deep"})


@dataclass
class Plan:
    order: list[str]
    outputs: list[str]
    #: node id → the ids whose outputs may be freed after that node ran.
    free_after: dict[str, list[str]] = field(default_factory=dict)
    #: Nodes in the plan that wfrun cannot run (reported before any model loads).
    unsupported: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    #: Display-only output nodes wfrun cannot run and nothing uses, left out (see DISPLAY_ONLY).
    skipped: list[str] = field(default_factory=list)
    #: Nodes only the untaken side of a lazy input needs, its choice known from constants
    #: (``wfrun.engine.lazy``): node id → why. Also in ``pruned``; they never run.
    untaken: dict[str, str] = field(default_factory=dict)
    #: Lazy node → the linked lazy inputs it reads, where its choice is known from constants.
    chosen: dict[str, set[str]] = field(default_factory=dict)


class PlanError(Exception):
    """The workflow cannot be planned (nothing to output, a loop, …); ``diagnostics`` say
    which nodes, when known."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or []


def is_output_node(graph: WorkflowGraph, node_id: str) -> bool:
    node = graph.node(node_id)
    return bool(node.signature is not None and node.signature.output_node)


def make_plan(graph: WorkflowGraph, outputs: list[str] | None = None) -> Plan:
    refused = [d for d in graph.problems if d.code in REFUSED and d.severity == Severity.ERROR]
    if refused:
        codes = ", ".join(sorted({d.code for d in refused}))
        raise PlanError(f"the workflow cannot be run as saved ({codes})", refused)
    try:
        full_order = graph.order()
    except CycleError as err:  # a graph not made by build: no diagnostic names the loop
        raise PlanError(str(err)) from None
    position = {node_id: i for i, node_id in enumerate(full_order)}
    skipped: list[str] = []
    if not outputs:
        candidates = sorted((i for i in graph.graph.nodes if is_output_node(graph, i)), key=position.__getitem__)
        skipped = [i for i in candidates if is_display_only(graph, i)]
        outputs = [i for i in candidates if i not in skipped]
        if not outputs and skipped:
            shown = ", ".join(f"{i} {graph.node(i).label} ({graph.node(i).class_type})" for i in skipped)
            raise PlanError(f"the workflow's only outputs are display-only nodes wfrun cannot run: {shown}; "
                            "add a node that saves the result (SaveImage, VHS_VideoCombine, …)")
    if not outputs:
        raise PlanError("the workflow has no output node (VHS_VideoCombine, SaveImage, PreviewImage, …)")
    needed: set[str] = set(outputs)
    for node_id in outputs:
        needed |= nx.ancestors(graph.graph, node_id)
    order = [i for i in full_order if i in needed]
    missing_slots = _missing_output_slots(graph, order)
    if missing_slots:
        raise PlanError(f"{len(missing_slots)} link(s) use an output the node does not have", missing_slots)
    chosen = lazy.static_choices(graph, order)
    untaken = _untaken(graph, order, outputs, chosen)
    if untaken:
        order = [i for i in order if i not in untaken]
    order = _decisions_first(graph, order, outputs, chosen)
    planned = set(order)
    last_use: dict[str, str] = {}
    for node_id in order:
        for source in graph.graph.predecessors(node_id):
            if source in planned:
                last_use[source] = node_id
    free_after: dict[str, list[str]] = {}
    for source, consumer in last_use.items():
        free_after.setdefault(consumer, []).append(source)
    unsupported = [i for i in order if get_executor(graph.node(i).class_type, graph.node(i).spec) is None]
    pruned = [i for i in graph.graph.nodes if (i not in needed or i in untaken) and i not in skipped]
    return Plan(order, outputs, free_after, unsupported, pruned, skipped, untaken,
                {i: c for i, c in chosen.items() if i not in untaken})


def _untaken(graph: WorkflowGraph, order: list[str], outputs: list[str],
             chosen: dict[str, set[str]]) -> dict[str, str]:
    """The planned nodes that only unread lazy inputs need, the choices ``chosen`` made at
    planning (``lazy.static_choices``), each with why."""
    choices = {i: set(lazy.lazy_links(graph.node(i))) - reads for i, reads in chosen.items()}
    choices = {i: unread for i, unread in choices.items() if unread}
    if not choices:
        return {}
    planned = set(order)
    live: set[str] = set()
    stack = list(outputs)
    while stack:
        node_id = stack.pop()
        if node_id in live:
            continue
        live.add(node_id)
        unread = choices.get(node_id, set())
        stack.extend(source for source, _, name in graph.graph.in_edges(node_id, data="input")
                     if name not in unread and source in planned)
    dropped = planned - live
    why: dict[str, str] = {}
    for consumer_id in (i for i in order if i in choices):  # the first choice that drops a node names it
        consumer = graph.node(consumer_id)
        for name, ref in sorted(consumer.links()):
            if name not in choices[consumer_id] or ref.node_id not in dropped:
                continue
            taken = " and ".join(f"'{n}'" for n in sorted(chosen[consumer_id])) or "none of its lazy inputs"
            reason = (f"only feeds '{name}' of node {consumer.id} '{consumer.label}' ({consumer.class_type}), "
                      f"which reads {taken} instead")
            for node_id in {ref.node_id} | (nx.ancestors(graph.graph, ref.node_id) & dropped):
                why.setdefault(node_id, reason)
    return {i: why.get(i, "only needed by nodes on an untaken branch") for i in order if i in dropped}


def _decisions_first(graph: WorkflowGraph, order: list[str], outputs: list[str],
                     chosen: dict[str, set[str]]) -> list[str]:
    """``order``, or where lazy choices wait for computed values, the same nodes ordered so
    that what decides them runs first and what they may leave unread last (``lazy.order_key``)."""
    branches = lazy.Branches(graph, order, keep=set(outputs), settled=chosen)
    if not branches:
        return order
    view = graph.graph.subgraph(order)
    return list(nx.lexicographical_topological_sort(view, key=lazy.order_key(graph, order, branches)))


def is_display_only(graph: WorkflowGraph, node_id: str) -> bool:
    """A node of ``DISPLAY_ONLY`` that wfrun cannot run and whose outputs nothing uses."""
    node = graph.node(node_id)
    return (node.class_type in DISPLAY_ONLY and graph.graph.out_degree(node_id) == 0
            and get_executor(node.class_type, node.spec) is None)


def _missing_output_slots(graph: WorkflowGraph, order: list[str]) -> list[Diagnostic]:
    """Links into planned nodes from an output slot that no version of the source node has.

    Every signature counts (a newer pack may have added the output), so only a slot past
    the most outputs the node ever had is refused; nodes without a spec are not judged."""
    found = []
    for node_id in order:
        node = graph.node(node_id)
        for name, ref in node.links():
            source = graph.node(ref.node_id)
            if source.spec is None:
                continue
            most = max(len(sig.outputs) for sig in source.spec.signatures)
            if ref.slot < most:
                continue
            found.append(Diagnostic(
                "bad-link", Severity.ERROR,
                f"input '{name}' is linked to output {ref.slot} of node {source.id} '{source.label}', "
                f"which has {most} output(s) in every version wfrun knows",
                file=graph.source, node_id=node.id, node_title=node.title, class_type=node.class_type,
                input=name, found=ref.slot, expected=f"an output slot below {most}",
                hint=f"reconnect '{name}' to an output of node {source.id} in ComfyUI and save again"))
    return found
