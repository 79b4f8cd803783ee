"""Lazy inputs (ComfyUI's ``check_lazy_status``): the branch a switch does not take never runs.

ComfyUI evaluates a node's lazy inputs only when the node asks for them, given its other
inputs: what feeds nothing but the inputs it does not ask for never runs, and a connected
input it did not evaluate arrives as ``None``. Many workflows rely on it (ComfyUI's Wan 2.2
image-to-video template's "4 steps LoRA" boolean drives switches whose other side loads
LoRA files). A node has lazy inputs where its spec marks them (``InputSpec.lazy``) and its
executor says which ones it reads (``ExecutorInfo.lazy``); one without ``lazy`` reads all.
wfrun decides in three places, with the same test:

- **Planning (static).** A lazy node whose other inputs are known without running anything
  (widgets, ``--set`` values, and outputs of ``pure`` executors — primitives, math
  expressions, switches — evaluated on such constants: :func:`constant_outputs`) has its
  choice made by the planner (:func:`static_choices`); the nodes only its unread inputs
  need leave the plan (``Plan.untaken``, with why), so their model and input files are not
  required, they do not count as unsupported, and they never run. ``--set`` is applied
  before planning, so flipping a boolean takes the other branch.
- **Running (dynamic).** Where the choice depends on values computed at run time, the
  planner puts the nodes that decide it first and the nodes that might not be needed last
  (:func:`order_key`); at its turn a node is skipped when every consumer is skipped, will be
  (looked ahead), or takes it only through lazy inputs it will not read
  (:meth:`Branches.unread`; ``RunResult.skipped``). A model loader on such a branch starts
  ahead of its turn (``run_plan(background=True)``) only once it is known to be read.
- **Loop bodies** (``wfrun.engine.loops``): the same test, in each iteration.

Where the choice cannot be known (an input is a list of several items, the lazy test
fails) every branch runs, as before. Unlike ComfyUI, whose prompt validation still wants
the files an unread branch names, ``wfrun run`` does not ask for them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Container, Iterable, Mapping

import networkx as nx

from wfrun.engine import lists
from wfrun.engine.executors import executor_info
from wfrun.engine.inputs import with_defaults
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.nodes.executor import ExecContext

Resolve = Callable[[NodeInstance, Mapping[str, tuple]], dict[str, Any]]


def is_lazy(node: NodeInstance, name: str) -> bool:
    """Whether ``name`` is a lazy input in the signature the node was read with; an input
    no signature declares (one the frontend added) is lazy where the executor says which
    declared input it is like (``ExecutorInfo.lazy_like``) and that one is."""
    if node.signature is None:
        return False
    spec = node.signature.input(name)
    if spec is None:
        info = executor_info(node.class_type, node.spec)
        like = info.lazy_like(name) if info is not None and info.lazy_like is not None else None
        spec = node.signature.input(like) if like is not None else None
    return spec is not None and spec.lazy


def lazy_links(node: NodeInstance) -> dict[str, LinkRef]:
    """The node's linked lazy inputs, when its executor says which it reads (else none: it
    reads every input)."""
    info = executor_info(node.class_type, node.spec)
    if info is None or info.lazy is None:
        return {}
    return {name: v for name, v in node.links() if is_lazy(node, name)}


def reads(node: NodeInstance, others: dict[str, Any]) -> set[str] | None:
    """The lazy inputs ``node`` reads given ``others``, its other inputs by value (defaults
    filled), as ComfyUI asks: a linked lazy input not evaluated yet is ``None``, an
    unconnected one absent. None when that cannot be known (a list of several items, the
    test failed: the node's own run will say what is wrong) or the node has no lazy test."""
    info = executor_info(node.class_type, node.spec)
    if info is None or info.lazy is None or any(isinstance(v, lists.ItemList) for v in others.values()):
        return None
    kwargs = dict(others)
    for name, value in node.inputs.items():
        if is_lazy(node, name):
            kwargs[name] = None if isinstance(value, LinkRef) else value
    try:
        return set(info.lazy(kwargs))
    except Exception:
        return None


def reads_now(node: NodeInstance, values: Mapping[str, tuple], resolve: Resolve) -> set[str] | None:
    """:func:`reads` from the values made so far; None while another input is not made yet."""
    others = {name: v for name, v in node.inputs.items() if not is_lazy(node, name)}
    if any(isinstance(v, LinkRef) and v.node_id not in values for v in others.values()):
        return None
    try:
        kwargs = resolve(dataclasses.replace(node, inputs=others), values)
    except Exception:  # the node's own run will say what is wrong
        return None
    return reads(node, {k: v for k, v in kwargs.items() if not is_lazy(node, k)})


def inputs_fed(graph: WorkflowGraph, source: str, consumer: str) -> set[str]:
    """The names of ``consumer``'s inputs linked to ``source`` (the graph's edges)."""
    return {data.get("input") for data in (graph.graph.get_edge_data(source, consumer) or {}).values()}


def without_unread(node: NodeInstance, skipped: Container[str]) -> NodeInstance:
    """``node`` with each input linked to a node that does not run replaced by ``None``
    (only unread lazy inputs can be), as ComfyUI passes a connected input it did not evaluate."""
    if not any(isinstance(v, LinkRef) and v.node_id in skipped for v in node.inputs.values()):
        return node
    return dataclasses.replace(node, inputs={name: None if isinstance(v, LinkRef) and v.node_id in skipped else v
                                             for name, v in node.inputs.items()})


class Branches:
    """Which nodes of a walk may feed only lazy inputs that will not be read.

    ``scope``: the nodes the walk runs and judges (their lazy tests count); ``readers``:
    nodes that read every input whatever their tests say (a loop's own nodes, seen from
    outside it); any other consumer does not run here and counts for nothing. ``keep``:
    nodes that always run (the plan's outputs). ``settled``: lazy nodes whose choice the
    planner made (``Plan.chosen``): what they read is read, the rest is not planned."""

    def __init__(self, graph: WorkflowGraph, scope: Iterable[str], readers: Container[str] = (),
                 keep: Container[str] = (), settled: Container[str] = ()):
        self.graph, self.scope, self.readers, self.keep = graph, set(scope), readers, keep
        #: consumer → its linked lazy inputs with a lazy test, by source node.
        self.lazy: dict[str, dict[str, set[str]]] = {}
        for node_id in [n for n in self.scope if n not in settled]:
            for name, ref in lazy_links(graph.node(node_id)).items():
                self.lazy.setdefault(node_id, {}).setdefault(ref.node_id, set()).add(name)
        sources = {s for by_source in self.lazy.values() for s in by_source}
        #: Nodes that may be skipped: a lazy input's sources and what they need.
        self.candidates: set[str] = set()
        for source in sources:
            self.candidates |= ({source} | nx.ancestors(graph.graph, source)) & self.scope

    def __bool__(self) -> bool:
        return bool(self.candidates)

    def unread(self, node_id: str, skipped: Container[str],
               reads_of: Callable[[str], set[str] | None]) -> bool | None:
        """True when no consumer will read ``node_id``'s outputs (each is skipped, will be, or
        takes them only through lazy inputs it will not read: ``reads_of(consumer)``, None
        while not known), False when one will, None when that is not known yet."""
        memo: dict[str, bool | None] = {}

        def fate(n: str) -> bool | None:
            if n in memo:
                return memo[n]
            if n not in self.candidates or n in self.keep:
                return False
            unknown = spared = False
            for consumer in self.graph.graph.successors(n):
                if consumer in skipped:
                    spared = True
                    continue
                if consumer not in self.scope:
                    if consumer in self.readers:
                        memo[n] = False
                        return False
                    continue  # does not run here
                via = inputs_fed(self.graph, n, consumer)
                lazy_only = bool(via) and via <= self.lazy.get(consumer, {}).get(n, set())
                if lazy_only:
                    got = reads_of(consumer)
                    if got is not None and not (via & got):
                        spared = True
                        continue
                consumer_fate = fate(consumer)
                if consumer_fate is True:
                    spared = True
                elif consumer_fate is None or (lazy_only and got is None):
                    unknown = True
                else:
                    memo[n] = False
                    return False
            memo[n] = None if unknown else spared
            return memo[n]

        return fate(node_id)


def constant_outputs(graph: WorkflowGraph, order: list[str]) -> dict[str, tuple]:
    """Outputs known without running anything heavy: nodes whose executor is ``pure``,
    called on widget values and on other such outputs (a lazy one on the inputs it reads)."""
    known: dict[str, tuple] = {}
    ctx = ExecContext()
    for node_id in order:
        node = graph.node(node_id)
        info = executor_info(node.class_type, node.spec)
        if info is None or not info.pure:
            continue
        inputs = with_defaults(node)
        lazy = lazy_links(node)
        others = {k: v for k, v in inputs.items() if k not in lazy}
        if any(isinstance(v, LinkRef) and v.node_id not in known for v in others.values()):
            continue
        others = {k: known[v.node_id][v.slot] if isinstance(v, LinkRef) else v for k, v in others.items()}
        if lazy:
            wanted = reads(node, others)
            if wanted is None or any(lazy[n].node_id not in known for n in wanted if n in lazy):
                continue
            others.update({n: known[ref.node_id][ref.slot] if n in wanted else None for n, ref in lazy.items()})
        if lists.needs_lists(node, others):
            continue
        try:
            outputs = info.fn(ctx, **others)
        except Exception:
            continue
        if isinstance(outputs, tuple):
            known[node_id] = outputs
    return known


def static_choices(graph: WorkflowGraph, order: list[str]) -> dict[str, set[str]]:
    """Lazy node → the linked lazy inputs it reads, for the nodes whose choice is known at
    planning (:func:`constant_outputs`)."""
    known: dict[str, tuple] | None = None
    choices: dict[str, set[str]] = {}
    for node_id in order:
        node = graph.node(node_id)
        lazy = lazy_links(node)
        if not lazy:
            continue
        if known is None:
            known = constant_outputs(graph, order)
        others = {k: v for k, v in with_defaults(node).items() if k not in lazy}
        if any(isinstance(v, LinkRef) and v.node_id not in known for v in others.values()):
            continue
        wanted = reads(node, {k: known[v.node_id][v.slot] if isinstance(v, LinkRef) else v
                              for k, v in others.items()})
        if wanted is not None:
            choices[node_id] = wanted & set(lazy)
    return choices


def order_key(graph: WorkflowGraph, order: list[str], branches: Branches) -> Callable[[str], tuple]:
    """A key for a topological sort that runs first what decides the lazy choices left to
    run time (the lazy nodes' other inputs and what they need) and last what those choices
    may leave unread; otherwise ``order``'s own."""
    planned = set(order)
    deciders: set[str] = set()
    for consumer, by_source in branches.lazy.items():
        node = graph.node(consumer)
        lazy_names = {name for names in by_source.values() for name in names}
        for name, ref in node.links():
            if name not in lazy_names and ref.node_id in planned:
                deciders |= ({ref.node_id} | nx.ancestors(graph.graph, ref.node_id)) & planned
    position = {node_id: i for i, node_id in enumerate(order)}

    def key(node_id: str) -> tuple:
        rank = 0 if node_id in deciders else 2 if node_id in branches.candidates else 1
        return rank, position[node_id]

    return key
