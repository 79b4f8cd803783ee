"""One editable graph of a UI document: the root workflow or one subgraph definition.

Migration edits the file's JSON value (plain dicts and lists) rather than the pydantic
models, so every field it does not touch — positions, colours, groups, fields of
frontends we have never seen — is carried through as it was, in the same key order. The
two link layouts (0.4 arrays, 1.x objects) are hidden behind :class:`LinkView`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator


@dataclass
class LinkView:
    """One link of either layout, edited in place."""

    raw: Any  # list (0.4) or dict (1.x / subgraphs)

    def _get(self, index: int, key: str) -> Any:
        return self.raw[index] if isinstance(self.raw, list) else self.raw.get(key)

    def _set(self, index: int, key: str, value: Any) -> None:
        if isinstance(self.raw, list):
            self.raw[index] = value
        else:
            self.raw[key] = value

    id = property(lambda self: self._get(0, "id"))
    origin_id = property(lambda self: self._get(1, "origin_id"),
                         lambda self, v: self._set(1, "origin_id", v))
    origin_slot = property(lambda self: self._get(2, "origin_slot"),
                           lambda self, v: self._set(2, "origin_slot", v))
    target_id = property(lambda self: self._get(3, "target_id"),
                         lambda self, v: self._set(3, "target_id", v))
    target_slot = property(lambda self: self._get(4, "target_slot"),
                           lambda self, v: self._set(4, "target_slot", v))
    type = property(lambda self: self._get(5, "type"), lambda self, v: self._set(5, "type", v))


class Scope:
    """The nodes and links of one graph level, plus id counters for new nodes and links."""

    def __init__(self, holder: dict[str, Any], root: dict[str, Any], path: str = ""):
        self.holder = holder  # the dict that has "nodes" and "links"
        self.root = root      # the top-level document (counters live there)
        self.path = path      # "" for the root, else the subgraph id
        links = [raw for raw in holder.get("links") or [] if isinstance(raw, (list, dict))]
        #: 1.x files and subgraph definitions store links as objects, 0.4 files as arrays.
        self.object_links = isinstance(links[0], dict) if links else (
            bool(path) or root.get("version") not in (None, 0.4))

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return self.holder.setdefault("nodes", [])

    def links(self) -> Iterator[LinkView]:
        for raw in self.holder.get("links") or []:
            if isinstance(raw, (list, dict)):
                yield LinkView(raw)

    def node(self, node_id: Any) -> dict[str, Any] | None:
        for node in self.nodes:
            if str(node.get("id")) == str(node_id):
                return node
        return None

    def link(self, link_id: Any) -> LinkView | None:
        for link in self.links():
            if link.id == link_id:
                return link
        return None

    def links_into(self, node_id: Any) -> list[LinkView]:
        return [link for link in self.links() if str(link.target_id) == str(node_id)]

    def links_out_of(self, node_id: Any) -> list[LinkView]:
        return [link for link in self.links() if str(link.origin_id) == str(node_id)]

    # --- new ids ------------------------------------------------------------------------

    def new_node_id(self) -> int:
        used = [n.get("id") for n in self.nodes if isinstance(n.get("id"), int)]
        counter = _counter(self.root, "last_node_id", "lastNodeId") if not self.path else 0
        new = max([counter, *used, 0]) + 1
        if not self.path:
            _set_counter(self.root, "last_node_id", "lastNodeId", new)
        return new

    def add_link(self, origin_id: Any, origin_slot: int, target_id: Any, target_slot: int,
                 link_type: Any) -> int:
        used = [link.id for link in self.links() if isinstance(link.id, int)]
        counter = _counter(self.root, "last_link_id", "lastLinkId")
        new = max([counter, *used, *_all_link_ids(self.root), 0]) + 1
        _set_counter(self.root, "last_link_id", "lastLinkId", new)
        if self.object_links:
            raw: Any = {"id": new, "origin_id": origin_id, "origin_slot": origin_slot,
                        "target_id": target_id, "target_slot": target_slot, "type": link_type}
        else:
            raw = [new, origin_id, origin_slot, target_id, target_slot, link_type]
        self.holder.setdefault("links", []).append(raw)
        return new

    def remove_link(self, link_id: Any) -> None:
        links = self.holder.get("links") or []
        self.holder["links"] = [raw for raw in links if LinkView(raw).id != link_id]


def _counter(root: dict[str, Any], flat: str, state_key: str) -> int:
    state = root.get("state")
    values = [root.get(flat)]
    if isinstance(state, dict):
        values.append(state.get(state_key))
    return max([v for v in values if isinstance(v, int) and not isinstance(v, bool)] or [0])


def _set_counter(root: dict[str, Any], flat: str, state_key: str, value: int) -> None:
    if isinstance(root.get(flat), int):
        root[flat] = max(root[flat], value)
    state = root.get("state")
    if isinstance(state, dict) and isinstance(state.get(state_key), int):
        state[state_key] = max(state[state_key], value)


def _all_link_ids(root: dict[str, Any]) -> list[int]:
    ids = [LinkView(raw).id for raw in root.get("links") or [] if isinstance(raw, (list, dict))]
    for sub in ((root.get("definitions") or {}).get("subgraphs") or []):
        ids += [LinkView(raw).id for raw in sub.get("links") or [] if isinstance(raw, (list, dict))]
    return [i for i in ids if isinstance(i, int)]


def scopes(data: dict[str, Any]) -> list[Scope]:
    """The root graph and every subgraph definition of a UI document."""
    out = [Scope(data, data)]
    for sub in ((data.get("definitions") or {}).get("subgraphs") or []):
        if isinstance(sub, dict):
            out.append(Scope(sub, data, str(sub.get("id", ""))))
    return out
