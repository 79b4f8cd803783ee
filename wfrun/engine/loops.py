"""Running loop node pairs (``wfrun.nodes.loops.LoopKind``) inside a plan.

ComfyUI runs a for-loop by graph expansion: the close node hands back a copy of the nodes
between the open and the close node, and the copies run again until the loop is done.
wfrun runs the same nodes again instead, in plan order, with the open node's outputs
replaced in each iteration; the saved graph has no cycle (the open node's ``reference``
output feeds the close node), so planning, validation and dry runs need nothing special.

- The *body* of a loop is every planned node that depends on an output of its open node
  and that its close node depends on, plus every node of an inner loop whose close node
  is in it. The open node and the body run at the close node's place in the plan, as many
  times as the loop says; nodes outside the body run once, as everywhere else.
- Body nodes are never served from the output cache nor put in it (their inputs change
  every iteration); the close node's outputs are, under the close node's fingerprint,
  which covers every input of the body transitively, so a re-run with nothing changed
  upstream skips the whole loop. A volatile node in the body (one that reads a file that
  may change) makes the close node volatile too.
- A node that depends on the open node without the close node needing it (a preview
  hanging off the body) is blocked, as the pack's ``ExecutionBlocker`` blocks it in
  ComfyUI: it does not run, nor anything after it (``RunResult.blocked``).
- Lazy inputs (ComfyUI's ``check_lazy_status``; ``wfrun.engine.lazy``, as outside loops):
  in each iteration a body node whose every use is a lazy input its consumer will not read
  (the branch a switch does not take, judged from the consumer's other inputs when they
  exist already), or a node that will itself be skipped, is skipped, and the consumer gets
  ``None`` there, as ComfyUI passes a connected input it did not evaluate. A loop needs this
  where ComfyUI's templates rely on it: a value carried from the previous iteration does not
  exist in the first. A choice the planner made from constants holds in every iteration
  (``Plan.chosen``; its untaken branch is not planned at all).
- ``MAX_ITERATIONS`` bounds a loop: a workflow from the internet must not be able to
  keep a GPU busy forever. A counted loop is refused before its first iteration; a while
  loop (``LoopKind.go_on``), whose count nobody knows beforehand, when its condition still
  says go on after that many. Ctrl-C is honoured between iterations (and between the body's
  nodes).
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field
from itertools import count, islice
from typing import Any, Callable, Container, Iterable, MutableMapping

import networkx as nx

from wfrun.engine import lists
from wfrun.engine.executors import executor_info, load_packs
from wfrun.engine.lazy import Branches, reads_now, without_unread
from wfrun.engine.plan import Plan, is_output_node
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.loops import LoopKind, loop_kind_closed_by

#: The most iterations one loop may run (per run of the loop, so per outer iteration when nested).
MAX_ITERATIONS = 10_000

Resolve = Callable[[NodeInstance, MutableMapping[str, tuple]], dict[str, Any]]
Execute = Callable[[NodeInstance, MutableMapping[str, tuple]], tuple]


@dataclass
class Region:
    """One loop: its kind, open and close node, and its body in plan order."""

    kind: LoopKind
    open_id: str
    close_id: str
    body: list[str] = field(default_factory=list)


@dataclass
class Loops:
    """The loops of one plan (``find_loops``)."""

    #: Every loop, outer and inner, by close node id.
    regions: dict[str, Region]
    #: Open and body nodes of the outermost loops, by the close node id they run at.
    inside: dict[str, str]
    #: Nodes that never run (see the module docstring).
    blocked: set[str]
    #: Lazy nodes whose choice the planner made (``Plan.chosen``).
    settled: Container[str] = ()

    def skipped(self, node_id: str) -> bool:
        """Whether the plan's walk passes ``node_id`` by (its loop or nothing runs it)."""
        return node_id in self.inside or node_id in self.blocked

    def volatile(self, close_id: str, graph: WorkflowGraph) -> bool:
        """Whether a body node of this loop may give a new value for the same inputs."""
        region = self.regions[close_id]
        for node_id in (region.open_id, *region.body):  # an open node may read files each pass
            node = graph.node(node_id)
            info = executor_info(node.class_type, node.spec)
            if is_output_node(graph, node_id) or (info is not None and info.volatile):
                return True
        return False

    def free_after(self, plan: Plan, graph: WorkflowGraph) -> dict[str, list[str]]:
        """``Plan.free_after`` with a loop's open and body nodes consuming at their close
        node's place (they run there), and blocked nodes consuming nothing."""
        position = {node_id: i for i, node_id in enumerate(plan.order)}
        last_use: dict[str, str] = {}
        for node_id in plan.order:
            if node_id in self.blocked:
                continue
            step = self.inside.get(node_id, node_id)
            for source in graph.graph.predecessors(node_id):
                if source in last_use and position[last_use[source]] >= position[step]:
                    continue
                last_use[source] = step
        free: dict[str, list[str]] = {}
        for source, step in last_use.items():
            free.setdefault(step, []).append(source)
        return free

    def run(self, close_id: str, graph: WorkflowGraph, values: MutableMapping[str, tuple], ctx: ExecContext,
            resolve: Resolve, execute: Execute) -> tuple:
        """The close node's outputs after running its loop (see the module docstring)."""
        region = self.regions[close_id]
        kind = region.kind
        opener = graph.node(region.open_id)
        open_inputs = resolve(opener, values)
        steps = _bounded_steps(kind, opener, open_inputs, ctx)
        carried = {i: open_inputs[name] for i, name in _value_inputs(kind) if name in open_inputs}
        closer = graph.node(close_id)
        fed_back = [(i, name) for i, name in _value_inputs(kind, closing=True)
                    if name in closer.inputs or not kind.carries_unconnected]
        inner = {n for r in self.regions.values() if r.close_id in region.body for n in (r.open_id, *r.body)}
        # nodes of inner loops read what they take: their own walk judges them
        branches = Branches(graph, set(region.body) - inner | {close_id}, readers=inner, settled=self.settled)
        every: list[dict[str, Any]] = []
        for index, step in enumerate(steps):
            ctx.check_interrupt()
            local: ChainMap[str, tuple] = ChainMap({}, values)
            try:
                local[region.open_id] = kind.open_outputs(step, index, carried)
            except NodeInputError as err:  # an open node that reads a file each pass
                from wfrun.engine.run import NodeError  # the runner's error, raised where it runs loops
                raise NodeError(opener, str(err), err.input_name, err.hint) from None
            skipped: set[str] = set()
            known: dict[str, set[str] | None] = {}

            def reads_of(consumer_id: str) -> set[str] | None:
                if known.get(consumer_id) is None:
                    known[consumer_id] = reads_now(graph.node(consumer_id), local, resolve)
                return known[consumer_id]

            for node_id in region.body:
                if node_id in inner:
                    continue  # runs inside its own loop, at its close node
                ctx.check_interrupt()
                if branches and branches.unread(node_id, skipped, reads_of) is True:
                    skipped.add(node_id)
                    continue
                node = without_unread(graph.node(node_id), skipped)
                if node_id in self.regions:
                    local[node_id] = self.run(node_id, graph, local, ctx, resolve, execute)
                else:
                    local[node_id] = execute(node, local)
            close_inputs = resolve(closer, local)
            if kind.close_result is not None:
                every.append(close_inputs)
            for i, name in fed_back:
                carried[i] = close_inputs.get(name)
            if kind.go_on is not None and not _goes_on(kind, closer, close_inputs, index + 1):
                break
        if kind.close_result is not None:  # plain lists where the close node's outputs are lists
            return lists.merge(closer, [kind.close_result(every, carried)])
        return kind.close_outputs(carried)


def find_loops(graph: WorkflowGraph, order: list[str], settled: Container[str] = ()) -> Loops | None:
    """The loops among the planned nodes ``order``, or ``None`` when there are none
    (``settled``: the plan's lazy nodes whose choice it made, ``Plan.chosen``).

    A close node whose link input does not come from its kind's open node, or (a kind
    paired through the graph) that no single open node reaches, is left alone (its
    executor says so when it runs)."""
    load_packs()
    planned = set(order)
    regions: dict[str, Region] = {}
    for node_id in order:
        node = graph.node(node_id)
        kind = loop_kind_closed_by(node.class_type)
        if kind is None:
            continue
        if kind.link_input is None:
            open_id = _paired_open(graph, kind, node_id, planned)
        else:
            link = node.inputs.get(kind.link_input)
            if isinstance(link, LinkRef):  # a close type may close several open types
                kind = loop_kind_closed_by(node.class_type, graph.node(link.node_id).class_type) or kind
            ok = isinstance(link, LinkRef) and graph.node(link.node_id).class_type == kind.open_type
            open_id = link.node_id if ok else None
        if open_id is None:
            continue
        body = (nx.descendants(graph.graph, open_id) & nx.ancestors(graph.graph, node_id) & planned)
        regions[node_id] = Region(kind, open_id, node_id, sorted(body))
    if not regions:
        return None
    _add_inner_loops(regions)
    position = {node_id: i for i, node_id in enumerate(order)}
    for region in regions.values():
        region.body.sort(key=position.__getitem__)
    members = {close: {r.open_id, *r.body} for close, r in regions.items()}
    outermost = [c for c in regions if not any(c in regions[o].body for o in regions if o != c)]
    inside = {n: close for close in outermost for n in members[close]}
    everything_looped = set(inside) | set(outermost)
    blocked: set[str] = set()
    for region in regions.values():
        view = nx.restricted_view(graph.graph, [region.close_id], [])
        blocked |= nx.descendants(view, region.open_id) - set(region.body)
    for node_id in list(blocked):
        blocked |= nx.descendants(graph.graph, node_id)
    return Loops(regions, inside, (blocked & planned) - everything_looped, settled)


def _paired_open(graph: WorkflowGraph, kind: LoopKind, close_id: str, planned: set[str]) -> str | None:
    """The open node of ``kind`` that reaches ``close_id`` along a path through no other
    close node of the kind (an inner loop's open node reaches the outer close node only
    through its own close node); None unless exactly one does."""
    others = [n for n in planned if n != close_id and graph.node(n).class_type == kind.close_type]
    view = nx.restricted_view(graph.graph, others, [])
    found = [n for n in nx.ancestors(view, close_id) & planned if graph.node(n).class_type == kind.open_type]
    return found[0] if len(found) == 1 else None


def _add_inner_loops(regions: dict[str, Region]) -> None:
    """Grow each body by the open node and body of every loop closed inside it, until
    nothing changes (a loop nested two deep reaches the outermost)."""
    changed = True
    while changed:
        changed = False
        for region in regions.values():
            body = set(region.body)
            for inner in regions.values():
                if inner.close_id in body and not ({inner.open_id, *inner.body} <= body):
                    body |= {inner.open_id, *inner.body}
                    changed = True
            region.body = sorted(body)


def _value_inputs(kind: LoopKind, closing: bool = False):
    names = kind.close_value_input if closing and kind.close_value_input is not None else kind.value_input
    for i in count():
        name = names(i)
        if name is None:
            return
        yield i, name


def _goes_on(kind: LoopKind, closer: NodeInstance, close_inputs: dict[str, Any], done: int) -> bool:
    """A while loop's ``go_on`` after ``done`` iterations, refused past ``MAX_ITERATIONS``."""
    from wfrun.engine.run import NodeError  # the runner's error, raised where it runs loops

    try:
        go_on = kind.go_on(close_inputs)
    except NodeInputError as err:
        raise NodeError(closer, str(err), err.input_name, err.hint) from None
    if go_on and done >= MAX_ITERATIONS:
        raise NodeError(closer, f"the loop ran {MAX_ITERATIONS} times and its condition still says go on",
                        kind.go_on_input, f"wfrun runs a loop at most {MAX_ITERATIONS} times; make "
                        f"'{kind.go_on_input}' turn false sooner")
    return bool(go_on)


def _bounded_steps(kind: LoopKind, opener: NodeInstance, inputs: dict[str, Any], ctx: ExecContext) -> Iterable[Any]:
    from wfrun.engine.run import NodeError  # the runner's error, raised where it runs loops

    try:
        found = kind.steps(inputs, ctx) if kind.steps_take_context else kind.steps(inputs)
        if kind.go_on is not None:  # a while loop: bounded by _goes_on, pass after pass
            return found
        steps = list(islice(iter(found), MAX_ITERATIONS + 1))
    except NodeInputError as err:
        raise NodeError(opener, str(err), err.input_name, err.hint) from None
    if len(steps) > MAX_ITERATIONS:
        raise NodeError(opener, f"the loop would run more than {MAX_ITERATIONS} times", kind.count_input,
                        f"wfrun runs a loop at most {MAX_ITERATIONS} times; give '{kind.count_input}' fewer items")
    return steps
