"""KJNodes' WidgetToString (``nodes/nodes.py``): another node's widget value as a string.

The pack reads the value from the prompt ComfyUI queued (each node's inputs by name), after
finding the node in the saved workflow: by ``node_title`` when one is given (the first node
whose title was edited to exactly that), else by ``id`` when it is not 0, else the node
linked to ``any_input``. wfrun builds the same view from the workflow it runs
(``ExecContext.workflow_json``): the file's graph with widget values bound to names
(``wfrun.graph.build``), defaults filled from the node's spec as the engine fills them, a
linked input shown as ComfyUI's prompt holds it (``['id', slot]``). Values are written as
the pack writes them: floats with ``allowed_float_decimals`` decimals, the rest with
Python's ``str``; several comma-separated names give ``name: value`` pairs; ``return_all``
gives every input's pair.

Differences, all where the pack would fail or find nothing:

- an ``any_input`` fed through a Reroute (or a Set/Get pair) names the node at the far end;
  the pack names the Reroute, which is not in the prompt, and fails;
- an API-format file (no saved UI workflow) works: ``node_title`` matches ``_meta.title``;
  the pack needs the UI workflow and fails without it;
- a node ``id`` inside a subgraph is looked up first at the top level, then in this node's
  own subgraph, then in any subgraph instance.

A target that is missing (muted, bypassed, a frontend-only node, a wrong id or title) or a
widget it lacks stops the run with an error naming what was looked for.
"""

from __future__ import annotations

from typing import Any

from wfrun.formats.document import from_data
from wfrun.formats.errors import FormatError
from wfrun.graph.build import build
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_node

MAX_DECIMALS = 10


def _graph(ctx: ExecContext) -> WorkflowGraph:
    if ctx.workflow_json is None:
        raise NodeInputError("id", "the workflow itself is not available to read widget values from",
                             "run the node from a workflow file")
    try:
        return build(from_data(ctx.workflow_json, "<workflow>"))
    except FormatError as err:
        raise NodeInputError("id", f"the workflow cannot be read: {err}") from None


def _by_title(graph: WorkflowGraph, workflow: Any, title: str) -> str | None:
    for instance in graph.nodes():
        if graph.kind == "api":
            saved = instance.title
        else:
            saved = (saved_node(workflow, instance.id) or {}).get("title")
        if saved == title:
            return instance.id
    return None


def _by_id(graph: WorkflowGraph, own_id: str, wanted: int) -> str | None:
    key = str(wanted)
    if key in graph.graph:
        return key
    prefix = own_id.rpartition(":")[0]
    if prefix and f"{prefix}:{key}" in graph.graph:
        return f"{prefix}:{key}"
    return next((n for n in sorted(graph.graph.nodes) if n.rpartition(":")[2] == key), None)


def _target(ctx: ExecContext, graph: WorkflowGraph, id: int, node_title: str) -> str:
    if node_title:
        found = _by_title(graph, ctx.workflow_json, node_title)
        if found is None:
            raise NodeInputError("node_title", f"no node titled {node_title!r} runs in this workflow",
                                 "titles only exist where they were edited; check the spelling, or use id")
        return found
    if int(id) != 0:
        found = _by_id(graph, ctx.node_id, int(id))
        if found is None:
            raise NodeInputError("id", f"no node with id {id} runs in this workflow (muted, bypassed or frontend-only "
                                 "nodes do not count)", "set id to a node that runs (its badge shows the id)")
        return found
    own = graph.node(ctx.node_id) if ctx.node_id in graph.graph else None
    link = next((own.inputs.get(n) for n in ("any_input", "source") if own is not None
                 and isinstance(own.inputs.get(n), LinkRef)), None)
    if link is None:
        raise NodeInputError("any_input", "no node to read: id is 0, node_title is empty and any_input is not linked",
                             "link the node to read into any_input, or set id or node_title")
    return link.node_id


def _inputs(instance: NodeInstance) -> dict[str, Any]:
    """The node's inputs as ComfyUI's prompt holds them, in declaration order."""
    values = dict(instance.inputs)
    if instance.spec is not None:
        for name, value in instance.spec.widget_defaults(instance.signature).items():
            values.setdefault(name, value)
        order = [i.name for i in (instance.signature or instance.spec.latest).inputs]
        values = {**{n: values[n] for n in order if n in values}, **values}
    return values


def _text(value: Any, decimals: int) -> str:
    if isinstance(value, LinkRef):
        return str([value.node_id, value.slot])
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


@executor("WidgetToString")
def widget_to_string(ctx: ExecContext, id: int, widget_name: str, return_all: bool, allowed_float_decimals: int,
                     node_title: str = "", **_: Any) -> tuple:
    if not 0 <= int(allowed_float_decimals) <= MAX_DECIMALS:
        raise NodeInputError("allowed_float_decimals", f"{allowed_float_decimals} decimals",
                             f"use 0 to {MAX_DECIMALS}")
    decimals = int(allowed_float_decimals)
    graph = _graph(ctx)
    target = _target(ctx, graph, id, node_title or "")
    instance = graph.node(target)
    values = _inputs(instance)
    if return_all:
        return (", ".join(f"{k}: {_text(v, decimals)}" for k, v in values.items()),)
    names = [n.strip() for n in str(widget_name or "").split(",") if n.strip()]
    missing = [n for n in names if n not in values] if names else [str(widget_name)]
    if missing:
        raise NodeInputError("widget_name", f"node {target} ({instance.label}) has no widget {missing[0]!r}",
                             f"its inputs are: {', '.join(values) or 'none'}")
    if len(names) == 1:
        return (_text(values[names[0]], decimals),)
    return (", ".join(f"{n}: {_text(values[n], decimals)}" for n in names),)
