"""The resolved workflow: executable nodes with named inputs, and typed links.

This is what every later stage (check, plan, run) reads. Frontend-only constructs are
gone by now; only nodes that would be queued to ComfyUI remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from wfrun.diagnostics import Diagnostic
from wfrun.specs.spec import NodeSpec, Signature


@dataclass(frozen=True)
class LinkRef:
    """An input fed by another node's output."""

    node_id: str
    slot: int
    type: Any = None


@dataclass
class NodeInstance:
    """One executable node: what it is, and its inputs by *name*."""

    id: str
    class_type: str
    title: str | None = None
    spec: NodeSpec | None = None
    signature: Signature | None = None
    #: Input name → constant value or :class:`LinkRef`.
    inputs: dict[str, Any] = field(default_factory=dict)
    #: Widget values that could not be bound to any input (reported, never dropped).
    unbound_widgets: list[Any] = field(default_factory=list)
    #: Output types by slot, from the spec or the file.
    output_types: list[Any] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    #: The raw ``widgets_values`` as saved (kept for checks and for unknown node types).
    saved_widgets: Any = None
    #: How the saved widgets were bound (signature choice, exact fit), when a spec exists.
    binding: Any = None
    #: Names of UI inputs whose link resolved to nothing (muted source, unconnected reroute).
    cut_inputs: dict[str, str] = field(default_factory=dict)
    #: The id path in the file, e.g. ``["12", "5"]`` for node 5 inside subgraph instance 12.
    source_path: tuple[str, ...] = ()
    #: The date of the node signature the file was saved with (before any in-memory
    #: migration): executors whose pack changed behaviour without changing inputs follow
    #: the version the workflow was made for.
    saved_date: str | None = None

    @property
    def label(self) -> str:
        return self.title or self.class_type

    def links(self) -> Iterator[tuple[str, LinkRef]]:
        for name, value in self.inputs.items():
            if isinstance(value, LinkRef):
                yield name, value


@dataclass
class InstanceWidgets:
    """The widgets of one subgraph instance (the node a user sees in the UI, which is not in
    the graph: its contents are), so ``--set`` can name the instance as the user knows it:
    subgraph input name → the (node id, input name) pairs inside that its value feeds."""

    title: str | None
    feeds: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class WorkflowGraph:
    """A ``networkx.MultiDiGraph`` (a ``DiGraph`` whose edges are keyed by input name).

    Vertices are node ids with attribute ``node`` (a :class:`NodeInstance`); each edge
    ``source → target`` carries ``slot`` (output slot), ``input`` (input name) and
    ``type``. ``problems`` holds what was found while building (never raised).
    """

    graph: nx.MultiDiGraph
    source: str = "<memory>"
    kind: str = "ui"
    problems: list[Diagnostic] = field(default_factory=list)
    #: Subgraph definition id → the full id of its first instance (to name the nodes of
    #: a definition the way the graph does, e.g. ``"12:5"``).
    first_instances: dict[str, str] = field(default_factory=dict)
    #: Subgraph instances' own widgets: instance full id → what each feeds inside.
    instance_widgets: dict[str, InstanceWidgets] = field(default_factory=dict)

    def node(self, node_id: str) -> NodeInstance:
        return self.graph.nodes[node_id]["node"]

    def nodes(self) -> Iterator[NodeInstance]:
        for node_id in self.graph.nodes:
            yield self.graph.nodes[node_id]["node"]

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def order(self) -> list[str]:
        """Node ids in a deterministic topological order (ties broken by id).

        Raises :class:`CycleError` when links form a loop: there is no such order. The
        build has already reported each loop as a ``cycle`` diagnostic naming its nodes."""
        try:
            return list(nx.lexicographical_topological_sort(self.graph, key=id_key))
        except nx.NetworkXUnfeasible:
            raise CycleError(f"{self.source}: links form a loop, so the nodes have no order to run in") from None

    def has_cycle(self) -> bool:
        return not nx.is_directed_acyclic_graph(self.graph)

    def display_order(self) -> list[str]:
        """The topological order, or, when links loop, every node by id (for showing)."""
        if self.has_cycle():
            return sorted(self.graph.nodes, key=id_key)
        return self.order()


class CycleError(ValueError):
    """The graph's links form a loop (see the ``cycle`` diagnostics of the build)."""


def id_key(node_id: str) -> tuple:
    """Sort key for ids like ``"12"`` and ``"12:5"``: numbers by value, other text after.

    Only ASCII digits count as numbers, compared by length then text: ``int()`` would
    refuse other Unicode digits and numbers of thousands of digits, both valid in a file."""
    key = []
    for part in node_id.split(":"):
        if part.isascii() and part.isdigit():
            digits = part.lstrip("0")
            key.append((0, len(digits), digits, part))
        else:
            key.append((1, 0, part, part))
    return tuple(key)
