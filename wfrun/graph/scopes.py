"""Subgraphs as nested scopes, so links can be followed across their boundaries.

A subgraph instance node ``X`` in a file stands for a copy of a subgraph definition.
Rather than copying links, each instance gets a *scope* (its full id, e.g. ``"12"`` or
``"12:7"`` when nested); node ``5`` inside it becomes ``"12:5"``. Links are looked up per
scope; crossing a boundary (the definition's input node ``-10`` or output node ``-20``)
is done while resolving a link's origin (see :mod:`wfrun.graph.resolve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wfrun.formats.ui import Link, Subgraph, UINode, UIWorkflow, normalise_links

ROOT = ""
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MAX_DEPTH = 32


def full_id(scope: str, local_id: int | str) -> str:
    return f"{scope}:{local_id}" if scope else str(local_id)


def looks_like_subgraph_type(type_name: str) -> bool:
    return bool(_UUID.match(type_name))


@dataclass
class Scope:
    """The nodes and links of the root graph or of one subgraph instance."""

    id: str
    nodes: dict[str, UINode]
    links: dict[int, Link]
    duplicate_link_ids: list[int] = field(default_factory=list)
    definition: Subgraph | None = None
    #: The instance node (in the parent scope) this scope expands.
    instance: UINode | None = None
    parent: str | None = None
    #: Mode inherited from a muted/bypassed instance (0 when none).
    inherited_mode: int = 0


@dataclass
class Scopes:
    by_id: dict[str, Scope]
    #: (scope, local id) of instances whose definition is missing, or too deeply nested.
    missing: list[tuple[str, UINode]] = field(default_factory=list)
    too_deep: list[tuple[str, UINode]] = field(default_factory=list)

    def root(self) -> Scope:
        return self.by_id[ROOT]


def _index_links(links: list) -> tuple[dict[int, Link], list[int]]:
    table: dict[int, Link] = {}
    duplicates: list[int] = []
    for link in normalise_links(links):
        if link.id in table:
            duplicates.append(link.id)
        else:
            table[link.id] = link
    return table, duplicates


def _index_nodes(nodes: list[UINode]) -> dict[str, UINode]:
    out: dict[str, UINode] = {}
    for node in nodes:
        out.setdefault(str(node.id), node)
    return out


def expand(workflow: UIWorkflow) -> Scopes:
    """Build the root scope and one scope per (possibly nested) subgraph instance."""
    definitions = {sg.id: sg for sg in workflow.subgraphs}
    links, dups = _index_links(workflow.links)
    root = Scope(ROOT, _index_nodes(workflow.nodes), links, dups)
    scopes = Scopes({ROOT: root})
    pending = [root]
    while pending:
        scope = pending.pop()
        depth = scope.id.count(":") + 1 if scope.id else 0
        for local_id, node in scope.nodes.items():
            definition = definitions.get(node.type)
            if definition is None:
                if looks_like_subgraph_type(node.type):
                    scopes.missing.append((scope.id, node))
                continue
            if depth >= MAX_DEPTH:
                scopes.too_deep.append((scope.id, node))
                continue
            inner_links, inner_dups = _index_links(definition.links)
            child = Scope(
                full_id(scope.id, local_id), _index_nodes(definition.nodes), inner_links,
                inner_dups, definition, node, scope.id,
                inherited_mode=node.mode if node.mode in (2, 4) else scope.inherited_mode,
            )
            scopes.by_id[child.id] = child
            pending.append(child)
    return scopes
