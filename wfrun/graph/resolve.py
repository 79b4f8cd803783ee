"""Following a link back to the executable output (or constant) that really feeds it.

This is where the frontend-only constructs are resolved, the way the ComfyUI frontend
does when it turns a workflow into an API prompt:

- ``Reroute`` and KJNodes' ``SetNode`` pass their single input through;
- ``GetNode`` reads the ``SetNode`` with the same name (in its scope, then outer ones);
- ComfyUI-Easy-Use's ``easy getNode`` reads the ``easy setNode`` with the same (non-empty)
  name in its own graph only, as its frontend code looks in ``this.graph._nodes``; the two
  kinds never read each other's setters;
- ``PrimitiveNode`` (and cg-use-everywhere's ``Seed Everywhere``) becomes its widget
  value, a constant;
- a muted node (mode 2) feeds nothing: the consumer input is left unconnected;
- a bypassed node (mode 4) passes through the first of its inputs whose type equals
  the consumer input's type, trying the input at the same slot index first;
- subgraph boundaries are crossed in both directions (see :mod:`wfrun.graph.scopes`); an
  unconnected subgraph input takes the value of the instance's own widget for it
  (:mod:`wfrun.graph.host_widgets`).

A walk is a loop, not a recursion: 10,000 chained reroutes (or Set/Get pairs, bypassed
nodes, subgraph boundaries) are 10,000 turns of it, not 30,000 Python frames. Each output
reached is remembered with its answer, so many consumers of one long chain walk it once,
and a walk that comes back to an output it already passed is a loop, reported with the
nodes on it. ``MAX_HOPS`` bounds the work of all walks together, whatever the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from wfrun.formats.ui import SUBGRAPH_INPUT_NODE_ID, UINode
from wfrun.graph.host_widgets import host_widget_values
from wfrun.graph.model import LinkRef
from wfrun.graph.scopes import Scope, Scopes, full_id

MUTED, BYPASSED = 2, 4
PASS_THROUGH = frozenset({"Reroute", "SetNode", "easy setNode"})
#: Getter type -> (the setter type it reads, whether it also looks in outer graphs).
GETTERS: dict[str, tuple[str, bool]] = {"GetNode": ("SetNode", True), "easy getNode": ("easy setNode", False)}
#: Links followed by all walks of one build together (a real file needs a few hundred).
MAX_HOPS = 1_000_000


@dataclass(frozen=True)
class Origin:
    """What feeds an input: a link to an executable output, a constant, or nothing."""

    ref: LinkRef | None = None
    constant: Any = None
    has_constant: bool = False
    #: Why nothing feeds it (muted, bypassed with no match, unconnected reroute, …).
    why_none: str | None = None
    #: (instance full id, subgraph input name) when the input is an unconnected input of a
    #: subgraph instance: its widget's value, or (without one) the node's own saved value.
    instance_input: tuple[str, str] | None = None

    @property
    def is_none(self) -> bool:
        return self.ref is None and not self.has_constant


@dataclass
class LinkProblem:
    code: str  # dangling-link | cycle | too-many-links
    scope: str
    node: UINode | None
    message: str
    link_id: int | None = None
    #: Full ids of the nodes on a loop, in order.
    loop: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Hop:
    """One step of a walk: the output ``origin_id``/``slot`` in ``scope_id``, reached by
    ``link_id`` from ``consumer`` (the node holding that link in an input)."""

    scope_id: str
    origin_id: int | str
    slot: int
    link_type: Any
    want_type: Any
    consumer: UINode | None
    link_id: int | None

    def key(self) -> tuple:
        return (self.scope_id, str(self.origin_id), self.slot, _frozen(self.link_type), _frozen(self.want_type))


Step = Origin | _Hop


@dataclass
class Resolver:
    scopes: Scopes
    is_executable: Callable[[UINode], bool]
    problems: list[LinkProblem] = field(default_factory=list)
    hops: int = 0
    _known: dict[tuple, Origin] = field(default_factory=dict)
    _setters: dict[tuple[str, str], dict[Any, UINode]] = field(default_factory=dict)
    #: Per instance scope: its host widgets' values by subgraph input name.
    _host_values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def mode(self, scope: Scope, node: UINode) -> int:
        return node.mode if node.mode in (MUTED, BYPASSED) else scope.inherited_mode

    def from_link(self, scope_id: str, link_id: int, want_type: Any, consumer: UINode | None = None) -> Origin:
        """What feeds the input of ``consumer`` that holds ``link_id``."""
        return self._walk(self._link(scope_id, link_id, want_type, consumer))

    def from_output(self, scope_id: str, origin_id: int | str, slot: int, link_type: Any, want_type: Any,
                    consumer: UINode | None = None) -> Origin:
        """What output ``slot`` of node ``origin_id`` really is (for links that are not in
        the file's link list, such as Anything Everywhere's saved ``ue_links``)."""
        return self._walk(_Hop(scope_id, origin_id, slot, link_type, want_type, consumer, None))

    # --- the walk -----------------------------------------------------------------------

    def _walk(self, step: Step) -> Origin:
        path: list[tuple[tuple, _Hop]] = []
        on_path: dict[tuple, int] = {}
        while isinstance(step, _Hop):
            key = step.key()
            known = self._known.get(key)
            if known is not None:
                step = known
                break
            if key in on_path:
                step = self._loop([hop for _, hop in path[on_path[key]:]], step)
                break
            if self.hops >= MAX_HOPS:
                step = self._exhausted(step)
                break
            self.hops += 1
            on_path[key] = len(path)
            path.append((key, step))
            step = self._step(step)
        for key, _ in path:
            self._known[key] = step
        return step

    def _loop(self, hops: list[_Hop], closing: _Hop) -> Origin:
        ids = [full_id(h.scope_id, h.origin_id) for h in hops]
        self.problems.append(LinkProblem(
            "cycle", closing.scope_id, closing.consumer,
            f"links loop back: following link {closing.link_id} returns to node {ids[0]} "
            f"(through {' → '.join(ids + [ids[0]])})", closing.link_id, ids))
        return Origin(why_none="its links loop back")

    def _exhausted(self, hop: _Hop) -> Origin:
        if not any(p.code == "too-many-links" for p in self.problems):
            self.problems.append(LinkProblem(
                "too-many-links", hop.scope_id, hop.consumer,
                f"following the links of this file took more than {MAX_HOPS:,} steps; "
                "wfrun stopped resolving them", hop.link_id))
        return Origin(why_none="too many links to follow")

    def _link(self, scope_id: str, link_id: int, want_type: Any, consumer: UINode | None) -> Step:
        scope = self.scopes.by_id[scope_id]
        link = scope.links.get(link_id)
        if link is not None:
            return _Hop(scope_id, link.origin_id, link.origin_slot, link.type, want_type, consumer, link_id)
        if link_id in scope.table.bad_links:  # reported once, by the link table check
            return Origin(why_none=f"link {link_id} has a bad slot")
        self.problems.append(LinkProblem(
            "dangling-link", scope_id, consumer,
            f"input uses link {link_id}, which is not in the file's link list", link_id))
        return Origin(why_none=f"link {link_id} does not exist")

    def _step(self, hop: _Hop) -> Step:
        scope = self.scopes.by_id[hop.scope_id]
        if hop.origin_id == SUBGRAPH_INPUT_NODE_ID and scope.instance is not None:
            return self._from_instance_input(scope, hop.slot, hop.want_type)

        node = scope.nodes.get(str(hop.origin_id))
        if node is None:
            self.problems.append(LinkProblem(
                "dangling-link", hop.scope_id, hop.consumer,
                f"link {hop.link_id} comes from node {hop.origin_id}, which does not exist", hop.link_id))
            return Origin(why_none=f"node {hop.origin_id} does not exist")

        child = self.scopes.by_id.get(full_id(hop.scope_id, node.id))
        if child is not None and child.instance is node:
            return self._from_instance_output(child, hop.slot, hop.want_type)

        mode = self.mode(scope, node)
        if mode == MUTED:
            return Origin(why_none=f"node {node.id} is muted")
        if node.type in PASS_THROUGH:
            return self._follow_input(hop.scope_id, node, 0, hop.want_type)
        if node.type in GETTERS:
            setter = self._find_setter(hop.scope_id, node)
            if setter is None:
                name = _first_widget(node)
                kind = GETTERS[node.type][0]
                self.problems.append(LinkProblem(
                    "dangling-link", hop.scope_id, node,
                    f"{node.type} reads '{name}', but no {kind} of that name exists"))
                return Origin(why_none=f"no {kind} named {name!r}")
            return self._follow_input(setter[0], setter[1], 0, hop.want_type)
        if node.type == "PrimitiveNode":
            values = node.widgets_values if isinstance(node.widgets_values, list) else []
            if not values:
                return Origin(why_none=f"PrimitiveNode {node.id} has no value")
            return Origin(constant=values[0], has_constant=True)
        if node.type == "Seed Everywhere":  # cg-use-everywhere: its output is its seed widget
            values = node.widgets_values if isinstance(node.widgets_values, list) else []
            if not values:
                return Origin(why_none=f"Seed Everywhere {node.id} has no value")
            return Origin(constant=values[0], has_constant=True)
        if mode == BYPASSED:
            return self._through_bypassed(hop.scope_id, node, hop.slot, hop.want_type or hop.link_type)
        if not self.is_executable(node):
            return Origin(why_none=f"node {node.id} ({node.type}) has no outputs to run")
        return Origin(ref=LinkRef(full_id(hop.scope_id, node.id), hop.slot, hop.link_type))

    def _follow_input(self, scope_id: str, node: UINode, index: int, want_type: Any) -> Step:
        inputs = node.inputs or []
        if index >= len(inputs) or inputs[index].link is None:
            return Origin(why_none=f"{node.type} {node.id} has nothing connected")
        return self._link(scope_id, inputs[index].link, want_type, node)

    def _through_bypassed(self, scope_id: str, node: UINode, slot: int, want_type: Any) -> Step:
        inputs = node.inputs or []
        for index in [slot, *range(len(inputs))]:
            if index < len(inputs) and _same_type(inputs[index].type, want_type):
                return self._follow_input(scope_id, node, index, want_type)
        return Origin(why_none=f"bypassed node {node.id} has no input of type {want_type}")

    def _from_instance_input(self, scope: Scope, slot: int, want_type: Any) -> Step:
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
            host_values = self._host_values.get(scope.id)
            if host_values is None:
                host_values = self._host_values[scope.id] = host_widget_values(instance, scope.definition, scope.table)
            at = (scope.id, wanted) if wanted is not None else None
            if wanted in host_values:  # the host's own widget (see wfrun.graph.host_widgets)
                return Origin(constant=host_values[wanted], has_constant=True, instance_input=at)
            return Origin(why_none=f"subgraph input {wanted or slot} is not connected", instance_input=at)
        return self._link(scope.parent, match.link, want_type, instance)

    def _from_instance_output(self, child: Scope, slot: int, want_type: Any) -> Step:
        if child.inherited_mode == MUTED:
            return Origin(why_none="subgraph is muted")
        link = child.table.to_output.get(slot)
        if link is None:
            return Origin(why_none=f"subgraph output {slot} is not connected inside")
        return _Hop(child.id, link.origin_id, link.origin_slot, link.type, want_type, child.instance, link.id)

    def _find_setter(self, scope_id: str | None, getter: UINode) -> tuple[str, UINode] | None:
        kind, outer = GETTERS[getter.type]
        name = _frozen(_first_widget(getter))
        if kind == "easy setNode" and name in ("", None):
            return None  # its frontend matches no setter for an empty name
        while scope_id is not None:
            setters = self._setters.get((scope_id, kind))
            scope = self.scopes.by_id[scope_id]
            if setters is None:  # the first setter of each name, as a linear scan finds it
                setters = self._setters[(scope_id, kind)] = {}
                for node in scope.nodes.values():
                    if node.type == kind:
                        setters.setdefault(_frozen(_first_widget(node)), node)
            if name in setters:
                return scope_id, setters[name]
            scope_id = scope.parent if outer else None
        return None


def _first_widget(node: UINode) -> Any:
    values = node.widgets_values
    return values[0] if isinstance(values, list) and values else None


def _frozen(value: Any) -> Any:
    """``value`` if it can be a dict key, else its repr (types and names come from the file)."""
    try:
        hash(value)
    except TypeError:
        return ("unhashable", repr(value))
    return value


def _same_type(a: Any, b: Any) -> bool:
    return a == b or a == "*" or b == "*" or b is None
