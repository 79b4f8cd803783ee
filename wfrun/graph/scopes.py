"""Subgraphs as nested scopes, so links can be followed across their boundaries.

A subgraph instance node ``X`` in a file stands for a copy of a subgraph definition.
Rather than copying links, each instance gets a *scope* (its full id, e.g. ``"12"`` or
``"12:7"`` when nested); node ``5`` inside it becomes ``"12:5"``. Links are looked up per
scope; crossing a boundary (the definition's input node ``-10`` or output node ``-20``)
is done while resolving a link's origin (see :mod:`wfrun.graph.resolve`).

Expansion is where a small hostile file becomes a huge graph (each definition holding
three instances of the next, twelve deep, is 531,441 nodes), so the limits of
:mod:`wfrun.graph.limits` are checked here, *before* each copy is made: a definition that
contains itself, nesting deeper than ``MAX_SUBGRAPH_DEPTH``, and expansion past
``MAX_EXPANDED_NODES`` each stop expansion at the instance that would cross the line.
A definition's node and link tables are built once and shared by all its instances.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wfrun.formats.ui import SUBGRAPH_OUTPUT_NODE_ID, Link, Subgraph, UINode, UIWorkflow, normalise_links
from wfrun.graph.limits import MAX_EXPANDED_NODES, MAX_SLOT, MAX_SUBGRAPH_DEPTH

ROOT = ""
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def full_id(scope: str, local_id: int | str) -> str:
    return f"{scope}:{local_id}" if scope else str(local_id)


def looks_like_subgraph_type(type_name: str) -> bool:
    return bool(_UUID.match(type_name))


def slot_ok(slot: int) -> bool:
    """A usable slot index: never negative (Python would count from the end), never huge."""
    return 0 <= slot <= MAX_SLOT


@dataclass
class Table:
    """The nodes and links of one graph level as saved: the root, or one definition."""

    nodes: dict[str, UINode]
    links: dict[int, Link]
    duplicate_link_ids: list[int] = field(default_factory=list)
    #: Nodes whose id another node of the same level already has (the first one wins).
    duplicate_nodes: list[UINode] = field(default_factory=list)
    #: Links with a negative or absurd slot, by id; they feed nothing.
    bad_links: dict[int, Link] = field(default_factory=dict)
    #: In a definition, the first link into each output slot of the boundary node (-20).
    to_output: dict[int, Link] = field(default_factory=dict)


@dataclass
class Scope:
    """The nodes and links of the root graph or of one subgraph instance."""

    id: str
    table: Table
    definition: Subgraph | None = None
    #: The instance node (in the parent scope) this scope expands.
    instance: UINode | None = None
    parent: str | None = None
    #: Mode inherited from a muted/bypassed instance (0 when none).
    inherited_mode: int = 0
    #: Ids of the definitions this scope is nested in, outermost first, itself last.
    lineage: tuple[str, ...] = ()

    @property
    def nodes(self) -> dict[str, UINode]:
        return self.table.nodes

    @property
    def table_key(self) -> str:
        """The key of its table in ``Scopes.tables``: ``""`` for the root, else the definition id."""
        return self.definition.id if self.definition is not None else ROOT

    @property
    def links(self) -> dict[int, Link]:
        return self.table.links

    @property
    def duplicate_link_ids(self) -> list[int]:
        return self.table.duplicate_link_ids


@dataclass
class Scopes:
    by_id: dict[str, Scope]
    #: (scope, instance node) of instances whose definition is missing.
    missing: list[tuple[str, UINode]] = field(default_factory=list)
    #: ... nested deeper than MAX_SUBGRAPH_DEPTH.
    too_deep: list[tuple[str, UINode]] = field(default_factory=list)
    #: ... of a definition inside that same definition (a loop of subgraphs).
    recursive: list[tuple[str, UINode]] = field(default_factory=list)
    #: ... left unexpanded because expansion reached MAX_EXPANDED_NODES.
    skipped: list[tuple[str, UINode]] = field(default_factory=list)
    #: ... whose full id is already another scope's (ids with ``:`` in them).
    clashing: list[tuple[str, UINode]] = field(default_factory=list)
    #: Nodes counted while expanding (the root's and each expanded instance's).
    expanded_nodes: int = 0
    #: The table of the root (key ``""``) and of each definition (key: its id), built
    #: once and shared by every instance.
    tables: dict[str, Table] = field(default_factory=dict)

    def root(self) -> Scope:
        return self.by_id[ROOT]

    def unexpanded(self) -> list[tuple[str, UINode]]:
        """Instance nodes that stand for nothing runnable: no definition, or not expanded."""
        return self.missing + self.too_deep + self.recursive + self.skipped + self.clashing


def make_table(nodes: list[UINode], links: list) -> Table:
    """Index one level's nodes and links, setting aside duplicates and bad slots.

    The boundary nodes of a definition (-10, -20) have slots like any node: indexes into
    the definition's inputs and outputs, so the same bounds hold for them."""
    table = Table({}, {})
    for node in nodes:
        key = str(node.id)
        if key in table.nodes:
            table.duplicate_nodes.append(node)
        else:
            table.nodes[key] = node
    for link in normalise_links(links):
        if link.id in table.links or link.id in table.bad_links:
            table.duplicate_link_ids.append(link.id)
        elif not (slot_ok(link.origin_slot) and slot_ok(link.target_slot)):
            table.bad_links[link.id] = link
        else:
            table.links[link.id] = link
            if link.target_id == SUBGRAPH_OUTPUT_NODE_ID:
                table.to_output.setdefault(link.target_slot, link)
    return table


def expand(workflow: UIWorkflow) -> Scopes:
    """Build the root scope and one scope per (possibly nested) subgraph instance."""
    definitions: dict[str, Subgraph] = {}
    root_table = make_table(workflow.nodes, workflow.links)
    root = Scope(ROOT, root_table)
    scopes = Scopes({ROOT: root}, tables={ROOT: root_table})
    for sg in workflow.subgraphs:
        if sg.id not in definitions:
            definitions[sg.id] = sg
            scopes.tables[sg.id] = make_table(sg.nodes, sg.links)
    scopes.expanded_nodes = len(root_table.nodes)
    pending = [root]
    while pending:
        scope = pending.pop()
        depth = len(scope.lineage)
        for local_id, node in scope.nodes.items():
            definition = definitions.get(node.type)
            if definition is None:
                if looks_like_subgraph_type(node.type):
                    scopes.missing.append((scope.id, node))
                continue
            if definition.id in scope.lineage:
                scopes.recursive.append((scope.id, node))
                continue
            if depth >= MAX_SUBGRAPH_DEPTH:
                scopes.too_deep.append((scope.id, node))
                continue
            table = scopes.tables[definition.id]
            if scopes.skipped or scopes.expanded_nodes + len(table.nodes) > MAX_EXPANDED_NODES:
                scopes.skipped.append((scope.id, node))
                continue
            child_id = full_id(scope.id, local_id)
            if child_id in scopes.by_id:
                scopes.clashing.append((scope.id, node))
                continue
            scopes.expanded_nodes += len(table.nodes)
            child = Scope(
                child_id, table, definition, node, scope.id,
                inherited_mode=node.mode if node.mode in (2, 4) else scope.inherited_mode,
                lineage=(*scope.lineage, definition.id),
            )
            scopes.by_id[child.id] = child
            pending.append(child)
    return scopes

