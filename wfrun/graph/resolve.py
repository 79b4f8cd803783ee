"""Following a link back to the executable output (or constant) that really feeds it.

This is where the frontend-only constructs are resolved, the way the ComfyUI frontend
does when it turns a workflow into an API prompt:

- ``Reroute`` and KJNodes' ``SetNode`` pass their single input through;
- ``GetNode`` reads the ``SetNode`` with the same name (in its scope, then outer ones);
- ``PrimitiveNode`` becomes its widget value, a constant;
- a muted node (mode 2) feeds nothing: the consumer input is left unconnected;
- a bypassed node (mode 4) passes through the first of its inputs whose type equals
  the consumer input's type, trying the input at the same slot index first;
- subgraph boundaries are crossed in both directions (see :mod:`wfrun.graph.scopes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from wfrun.formats.ui import SUBGRAPH_INPUT_NODE_ID, SUBGRAPH_OUTPUT_NODE_ID, UINode
from wfrun.graph.model import LinkRef
from wfrun.graph.scopes import Scope, Scopes, full_id

MUTED, BYPASSED = 2, 4
PASS_THROUGH = frozenset({"Reroute", "SetNode"})


@dataclass(frozen=True)
class Origin:
    """What feeds an input: a link to an executable output, a constant, or nothing."""

    ref: LinkRef | None = None
    constant: Any = None
    has_constant: bool = False
    #: Why nothing feeds it (muted, bypassed with no match, unconnected reroute, …).
    why_none: str | None = None

    @property
    def is_none(self) -> bool:
        return self.ref is None and not self.has_constant


@dataclass
class LinkProblem:
    code: str  # dangling-link | cycle
    scope: str
    node: UINode | None
    message: str
    link_id: int | None = None


@dataclass
class Resolver:
    scopes: Scopes
    is_executable: Callable[[UINode], bool]
    problems: list[LinkProblem] = field(default_factory=list)

    def mode(self, scope: Scope, node: UINode) -> int:
        return node.mode if node.mode in (MUTED, BYPASSED) else scope.inherited_mode

    def from_link(self, scope_id: str, link_id: int, want_type: Any,
                  consumer: UINode | None = None, seen: frozenset = frozenset()) -> Origin:
        scope = self.scopes.by_id[scope_id]
        link = scope.links.get(link_id)
        if link is None:
            self.problems.append(LinkProblem(
                "dangling-link", scope_id, consumer,
                f"input uses link {link_id}, which is not in the file's link list", link_id))
            return Origin(why_none=f"link {link_id} does not exist")
        return self.from_output(scope_id, link.origin_id, link.origin_slot, link.type, want_type,
                                consumer, link_id, seen)

    def from_output(self, scope_id: str, origin_id: int | str, slot: int, link_type: Any,
                    want_type: Any, consumer: UINode | None, link_id: int | None,
                    seen: frozenset) -> Origin:
        key = (scope_id, str(origin_id), slot)
        if key in seen:
            self.problems.append(LinkProblem(
                "cycle", scope_id, consumer,
                f"following link {link_id} loops back through node {origin_id}", link_id))
            return Origin(why_none="loop")
        seen = seen | {key}
        scope = self.scopes.by_id[scope_id]

        if origin_id == SUBGRAPH_INPUT_NODE_ID and scope.instance is not None:
            return self._from_instance_input(scope, slot, want_type, seen)

        node = scope.nodes.get(str(origin_id))
        if node is None:
            self.problems.append(LinkProblem(
                "dangling-link", scope_id, consumer,
                f"link {link_id} comes from node {origin_id}, which does not exist", link_id))
            return Origin(why_none=f"node {origin_id} does not exist")

        child = self.scopes.by_id.get(full_id(scope_id, node.id))
        if child is not None and child.instance is node:
            return self._from_instance_output(child, slot, want_type, seen)

        mode = self.mode(scope, node)
        if mode == MUTED:
            return Origin(why_none=f"node {node.id} is muted")
        if node.type in PASS_THROUGH:
            return self._follow_input(scope_id, node, 0, want_type, seen)
        if node.type == "GetNode":
            setter = self._find_setter(scope_id, node)
            if setter is None:
                name = _first_widget(node)
                self.problems.append(LinkProblem(
                    "dangling-link", scope_id, node,
                    f"GetNode reads '{name}', but no SetNode of that name exists"))
                return Origin(why_none=f"no SetNode named {name!r}")
            return self._follow_input(setter[0], setter[1], 0, want_type, seen)
        if node.type == "PrimitiveNode":
            values = node.widgets_values if isinstance(node.widgets_values, list) else []
            if not values:
                return Origin(why_none=f"PrimitiveNode {node.id} has no value")
            return Origin(constant=values[0], has_constant=True)
        if mode == BYPASSED:
            return self._through_bypassed(scope_id, node, slot, want_type or link_type, seen)
        if not self.is_executable(node):
            return Origin(why_none=f"node {node.id} ({node.type}) has no outputs to run")
        return Origin(ref=LinkRef(full_id(scope_id, node.id), slot, link_type))

    def _follow_input(self, scope_id: str, node: UINode, index: int, want_type: Any,
                      seen: frozenset) -> Origin:
        inputs = node.inputs or []
        if index >= len(inputs) or inputs[index].link is None:
            return Origin(why_none=f"{node.type} {node.id} has nothing connected")
        return self.from_link(scope_id, inputs[index].link, want_type, node, seen)

    def _through_bypassed(self, scope_id: str, node: UINode, slot: int, want_type: Any,
                          seen: frozenset) -> Origin:
        inputs = node.inputs or []
        for index in [slot, *range(len(inputs))]:
            if index < len(inputs) and _same_type(inputs[index].type, want_type):
                return self._follow_input(scope_id, node, index, want_type, seen)
        return Origin(why_none=f"bypassed node {node.id} has no input of type {want_type}")

    def _from_instance_input(self, scope: Scope, slot: int, want_type: Any,
                             seen: frozenset) -> Origin:
        instance = scope.instance
        assert instance is not None and scope.parent is not None and scope.definition is not None
        inputs = instance.inputs or []
        # The instance's sockets are matched to the definition's inputs by name: the
        # instance may list them in another order (widget sockets, later edits).
        wanted = scope.definition.inputs[slot].name if slot < len(scope.definition.inputs) else None
        match = next((i for i in inputs if i.name == wanted), None)
        if match is None and slot < len(inputs) and wanted is None:
            match = inputs[slot]
        if match is None or match.link is None:
            return Origin(why_none=f"subgraph input {wanted or slot} is not connected")
        return self.from_link(scope.parent, match.link, want_type, instance, seen)

    def _from_instance_output(self, child: Scope, slot: int, want_type: Any,
                              seen: frozenset) -> Origin:
        if child.inherited_mode == MUTED:
            return Origin(why_none="subgraph is muted")
        for link in child.links.values():
            if link.target_id == SUBGRAPH_OUTPUT_NODE_ID and link.target_slot == slot:
                return self.from_output(child.id, link.origin_id, link.origin_slot, link.type,
                                        want_type, child.instance, link.id, seen)
        return Origin(why_none=f"subgraph output {slot} is not connected inside")

    def _find_setter(self, scope_id: str | None, getter: UINode) -> tuple[str, UINode] | None:
        name = _first_widget(getter)
        while scope_id is not None:
            scope = self.scopes.by_id[scope_id]
            for node in scope.nodes.values():
                if node.type == "SetNode" and _first_widget(node) == name:
                    return scope_id, node
            scope_id = scope.parent
        return None


def _first_widget(node: UINode) -> Any:
    values = node.widgets_values
    return values[0] if isinstance(values, list) and values else None


def _same_type(a: Any, b: Any) -> bool:
    return a == b or a == "*" or b == "*" or b is None
