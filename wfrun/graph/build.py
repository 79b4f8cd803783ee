"""Turn a parsed document into a :class:`~wfrun.graph.model.WorkflowGraph`.

Everything the frontend resolves before queueing (reroutes, primitives, Set/Get, bypass,
mute, subgraphs, positional widgets) is resolved here, once, so later stages see only
executable nodes with named inputs. Building never raises on a bad workflow: problems
go to ``WorkflowGraph.problems``. The size limits of :mod:`wfrun.graph.limits` are
checked first, before any work that grows with the file, and loops are found here, so
nothing later has to order a graph that has no order.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.formats.api import ApiPrompt, is_link
from wfrun.formats.document import Document
from wfrun.formats.ui import UINode, UIWorkflow, is_scalar_widgets
from wfrun.graph.everywhere import UE_NODES, added_links, resolve_scope
from wfrun.graph.limits import MAX_EXPANDED_NODES, MAX_FILE_LINKS, MAX_FILE_NODES, MAX_SLOT, MAX_SUBGRAPH_DEPTH
from wfrun.graph.model import InstanceWidgets, LinkRef, NodeInstance, WorkflowGraph, id_key
from wfrun.graph.resolve import BYPASSED, MUTED, Resolver
from wfrun.graph.scopes import ROOT, Scopes, Table, expand, full_id, slot_ok
from wfrun.graph.widgets import bind, choose_signature, spec_for
from wfrun.graph.groupnodes import inline_group_nodes
from wfrun.specs.registry import FRONTEND_ONLY, Registry, default_registry

#: Loops reported per file (each names its nodes); one is enough to refuse a run.
MAX_CYCLES_REPORTED = 10


def build(doc: Document, registry: Registry | None = None) -> WorkflowGraph:
    registry = registry or default_registry()
    if doc.kind == "api":
        return _build_api(doc.api, doc.source, registry)
    return _build_ui(doc.ui, doc.source, registry)


def _error(result: WorkflowGraph, code: str, message: str, node: UINode | None = None,
           node_id: str | None = None, **kw: Any) -> None:
    result.problems.append(Diagnostic(
        code, Severity.ERROR, message, file=result.source,
        node_id=node_id if node_id is not None else (str(node.id) if node is not None else None),
        node_title=node.title if node is not None else None,
        class_type=node.type if node is not None else None, **kw))


def _build_ui(workflow: UIWorkflow, source: str, registry: Registry) -> WorkflowGraph:
    result = WorkflowGraph(nx.MultiDiGraph(), source, "ui")
    if not _ui_file_within_limits(workflow, result):
        return result
    workflow = inline_group_nodes(workflow, MAX_FILE_NODES, MAX_FILE_LINKS)
    scopes = expand(workflow)

    unexpandable = {id(n) for _, n in scopes.unexpanded()}

    def is_executable(node: UINode) -> bool:
        return node.type not in FRONTEND_ONLY and node.type not in UE_NODES and id(node) not in unexpandable

    resolver = Resolver(scopes, is_executable)
    place = _Places(workflow, scopes)
    ue_added = _ue_added_links(workflow)
    _report_scope_problems(scopes, place, result)

    for scope in scopes.by_id.values():
        for local_id, node in scope.nodes.items():
            node_id = full_id(scope.id, local_id)
            if node_id in scopes.by_id or not is_executable(node):
                continue
            if resolver.mode(scope, node) in (MUTED, BYPASSED):
                continue
            if node_id in result.graph:
                _error(result, "duplicate-node-id",
                       f"node id {node_id} is used twice once subgraphs are expanded "
                       "(an id with ':' in it clashes with a node inside a subgraph)",
                       node, node_id, found=node_id, expected="unique node ids",
                       hint="give the node a plain numeric id, or re-save the workflow in ComfyUI")
                continue
            _warn_scalar_widgets(result, node, node_id)
            instance = _instance_from_ui(node, node_id, registry)
            for ui_input in node.inputs or []:
                if ui_input.link is None or ui_input.link in ue_added.get(scope.table_key, ()):
                    continue
                name = ui_input.widget.name if ui_input.widget else ui_input.name
                origin = resolver.from_link(scope.id, ui_input.link, ui_input.type, node)
                if origin.ref is not None:
                    instance.inputs[name] = origin.ref
                elif origin.has_constant:
                    instance.inputs[name] = origin.constant
                else:
                    instance.cut_inputs[name] = origin.why_none or "not connected"
                if origin.instance_input is not None:
                    _record_instance_widget(result, scopes, origin.instance_input, node_id, name)
            result.graph.add_node(node_id, node=instance)

    _broadcast_links(workflow, scopes, resolver, ue_added, result)
    for problem in resolver.problems:
        node = problem.node
        hint = {"dangling-link": "reconnect the input in ComfyUI and save again",
                "cycle": "remove one of the links that close the loop",
                "too-many-links": "the file is not a workflow ComfyUI saved; re-export it"}[problem.code]
        node_id = full_id(problem.scope, node.id) if node is not None else None
        message, extra = problem.message, {}
        missing = _missing_link_input(scopes, problem)
        if missing is not None:
            slot, ui_input = missing
            name = ui_input.widget.name if ui_input.widget else ui_input.name
            message = (f"the input uses link {problem.link_id}, which is not in the file's link list; "
                       f"ComfyUI's frontend refuses to queue it too (\"No link found in parent graph for id "
                       f"[{node_id}] slot [{slot}] {ui_input.name}\")")
            hint = ("reconnect the input in ComfyUI, or disconnect it so the node uses its widget value, and "
                    "save again" if ui_input.widget else hint)
            extra = {"input": name, "found": problem.link_id}
        _error(result, problem.code, message, node, node_id, **({"found": problem.loop or None} | extra),
               hint=hint)
    _check_link_tables(scopes, place, result)
    _add_edges(result)
    _find_cycles(result)
    _titles_from_specs(result)
    result.first_instances = place.first
    return result


def _ue_added_links(workflow: UIWorkflow) -> dict[str, set[int]]:
    """Per link table (root ``""``, each definition by id): the links Anything Everywhere
    left in node inputs (``extra.links_added_by_ue``), read as unconnected."""
    found = {ROOT: added_links(workflow.extra)}
    for sg in workflow.subgraphs:
        found.setdefault(sg.id, added_links((sg.model_extra or {}).get("extra")))
    return found


def _broadcast_links(workflow: UIWorkflow, scopes: Scopes, resolver: Resolver, ue_added: dict[str, set[int]],
                     result: WorkflowGraph) -> None:
    """Connect the inputs that Anything Everywhere nodes feed (see :mod:`wfrun.graph.everywhere`)."""
    for scope in scopes.by_id.values():
        if not any(n.type in UE_NODES for n in scope.nodes.values()):
            continue
        if scope.definition is None:
            groups, extra = workflow.groups, workflow.extra
        else:
            defined = scope.definition.model_extra or {}
            groups, extra = defined.get("groups"), defined.get("extra")
        groups = groups if isinstance(groups, list) else None
        saved = extra.get("ue_links") if isinstance(extra, dict) else None
        saved = saved if isinstance(saved, list) else None
        found = resolve_scope(scope, resolver, groups, saved, lambda i: i in result.graph,
                              ue_added.get(scope.table_key, set()))
        for wire in found.wires:
            instance = result.node(wire.node_id)
            if wire.origin.ref is not None:
                instance.inputs[wire.name] = wire.origin.ref
            elif wire.origin.has_constant:
                instance.inputs[wire.name] = wire.origin.constant
            else:
                instance.cut_inputs[wire.name] = f"Anything Everywhere {wire.controller}: {wire.origin.why_none}"
                continue
            instance.cut_inputs.pop(wire.name, None)
        for node_id, name, controllers in found.ambiguous:
            instance = result.node(node_id)
            result.problems.append(Diagnostic(
                "ambiguous-broadcast", Severity.WARNING,
                f"input '{name}' matches {len(controllers)} Anything Everywhere nodes of equal priority "
                f"({', '.join(controllers)}); like the extension, wfrun connects none of them",
                file=result.source, node_id=node_id, node_title=instance.title, class_type=instance.class_type,
                input=name, found=controllers,
                hint="connect the input directly, or restrict the broadcasts (title/input regex, group, colour)"))
        for controller, why in found.dropped:
            result.problems.append(Diagnostic(
                "bad-broadcast", Severity.WARNING, f"this Anything Everywhere node broadcasts nothing: {why}",
                file=result.source, node_id=controller, found=why,
                hint="fix the node's regex in ComfyUI"))


def _titles_from_specs(result: WorkflowGraph) -> None:
    """Problems found on the file's nodes name them by saved title; an untitled node is
    shown by its display name, as in the frontend and in every later diagnostic."""
    for problem in result.problems:
        if problem.node_title is None and problem.node_id in result.graph:
            instance = result.node(problem.node_id)
            if instance.class_type == problem.class_type:
                problem.node_title = instance.title


def _ui_file_within_limits(workflow: UIWorkflow, result: WorkflowGraph) -> bool:
    """Count what the file holds before anything is built from it."""
    nodes = len(workflow.nodes) + sum(len(sg.nodes) for sg in workflow.subgraphs)
    links = len(workflow.links) + sum(len(sg.links) for sg in workflow.subgraphs)
    return _within_limits("file", nodes, links, result)


def _within_limits(what: str, nodes: int, links: int, result: WorkflowGraph) -> bool:
    """Refuse a file or prompt of more nodes or links than any real workflow has."""
    for code, count, limit, noun in (("too-many-nodes", nodes, MAX_FILE_NODES, "nodes"),
                                     ("too-many-links", links, MAX_FILE_LINKS, "links")):
        if count > limit:
            _error(result, code, f"the {what} has {count:,} {noun}; wfrun reads at most {limit:,}",
                   found=count, expected=f"at most {limit}",
                   hint="this is far beyond any real workflow; check where the file came from")
    return nodes <= MAX_FILE_NODES and links <= MAX_FILE_LINKS


def _warn_scalar_widgets(result: WorkflowGraph, node: UINode, node_id: str) -> None:
    """A lone ``widgets_values`` is ignored as the frontend ignores it (see
    :attr:`UINode.saved_widgets`); say so, since the user may have meant a value."""
    if not is_scalar_widgets(node.widgets_values):
        return
    result.problems.append(Diagnostic(
        "scalar-widgets-values", Severity.WARNING,
        "widgets_values is a single value, not a list; like ComfyUI's frontend, wfrun ignores it "
        "and the node's widgets keep their defaults",
        file=result.source, node_id=node_id, node_title=node.title, class_type=node.type,
        input="widgets_values", found=node.widgets_values, expected="a list of widget values",
        hint="open the workflow in ComfyUI, set the widgets and save it again"))


def _record_instance_widget(result: WorkflowGraph, scopes: Scopes, at: tuple[str, str], node_id: str,
                            name: str) -> None:
    """Note that input ``name`` of ``node_id`` takes its value from the widget ``at`` of a
    subgraph instance, so ``--set INSTANCE.WIDGET`` can reach it."""
    instance_id, widget = at
    scope = scopes.by_id[instance_id]
    title = (scope.instance.title if scope.instance else None) or (scope.definition.name if scope.definition else None)
    record = result.instance_widgets.setdefault(instance_id, InstanceWidgets(title))  # as the UI shows it
    record.feeds.setdefault(widget, []).append((node_id, name))


def _instance_from_ui(node: UINode, node_id: str, registry: Registry) -> NodeInstance:
    props = node.properties or {}
    saved = node.saved_widgets
    spec = spec_for(registry, node.type, props, saved)
    instance = NodeInstance(
        id=node_id, class_type=node.type, title=node.title, spec=spec,
        properties=props, saved_widgets=saved,
        source_path=tuple(node_id.split(":")),
    )
    if spec is not None:
        commits = registry.commit_index(spec.pack)
        ver = props.get("ver") if registry.saved_by(spec.pack, props.get("cnr_id")) else None
        choice = choose_signature(spec, saved, commits.get(ver or ""), commits)
        binding = bind(spec, saved, choice)
        instance.signature = binding.signature
        instance.saved_date = binding.signature.date
        instance.binding = binding
        instance.inputs.update(binding.values)
        instance.unbound_widgets = binding.unbound
        instance.output_types = _output_types(spec, binding.signature, node.outputs or [])
    else:
        instance.output_types = [o.type for o in node.outputs or []]
    if instance.title is None and spec is not None:
        instance.title = spec.display_name
    return instance


def _report_scope_problems(scopes: Scopes, place: _Places, result: WorkflowGraph) -> None:
    for scope_id, node in scopes.missing:
        _error(result, "missing-subgraph",
               "this node is a subgraph instance, but the file has no subgraph definition with its id",
               node, full_id(scope_id, node.id), found=node.type,
               expected="an id listed in definitions.subgraphs",
               hint="the subgraph definition was lost; re-export the workflow from ComfyUI")
    for scope_id, node in scopes.recursive:
        _error(result, "cycle", f"subgraph {node.type} contains an instance of itself, so it never ends",
               node, full_id(scope_id, node.id), found=node.type,
               hint="a subgraph must not contain an instance of itself (directly or through other subgraphs)")
    for scope_id, node in scopes.too_deep:
        _error(result, "subgraph-too-deep",
               f"subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} deep here; wfrun does not expand this one",
               node, full_id(scope_id, node.id), found=scope_id.count(":") + 2,
               expected=f"at most {MAX_SUBGRAPH_DEPTH} levels",
               hint="flatten some of the nested subgraphs (ComfyUI: right click → Unpack Subgraph)")
    if scopes.skipped:
        scope_id, node = scopes.skipped[0]
        _error(result, "too-many-nodes",
               f"expanding the subgraphs would give more than {MAX_EXPANDED_NODES:,} nodes; "
               f"wfrun stopped at this instance ({len(scopes.skipped):,} instance(s) left unexpanded)",
               node, full_id(scope_id, node.id), found=f"more than {MAX_EXPANDED_NODES}",
               expected=f"at most {MAX_EXPANDED_NODES} nodes after expansion",
               hint="the subgraphs hold instances of each other many times over; unpack or remove some")
    for scope_id, node in scopes.clashing:
        _error(result, "duplicate-node-id",
               f"subgraph instance {full_id(scope_id, node.id)} has the full id of another subgraph instance",
               node, full_id(scope_id, node.id), found=full_id(scope_id, node.id), expected="unique node ids",
               hint="give the node a plain numeric id, or re-save the workflow in ComfyUI")
    for key, table in scopes.tables.items():
        where, prefix, path = place(key)
        for node in table.duplicate_nodes:
            first = table.nodes[str(node.id)]
            _error(result, "duplicate-node-id",
                   f"node id {node.id}{where} is used by two nodes: {first.type}"
                   f"{_titled(first)} and {node.type}{_titled(node)}; links cannot tell them apart",
                   node, full_id(prefix, node.id), found=[first.type, node.type], expected="unique node ids",
                   path=path, hint="give one of them a new id (re-create it in ComfyUI), then reconnect its links")


def _titled(node: UINode) -> str:
    return f" '{node.title}'" if node.title else ""


class _Places:
    """Words, node-id prefix and JSON path for the root table and each definition's
    (a definition is named by its first instance, if any)."""

    def __init__(self, workflow: UIWorkflow, scopes: Scopes):
        self.index = {}
        for i, sg in enumerate(workflow.subgraphs):
            self.index.setdefault(sg.id, i)
        self.names = {sg.id: sg.name or sg.id for sg in workflow.subgraphs}
        self.first: dict[str, str] = {}
        for scope in scopes.by_id.values():
            if scope.definition is not None:
                self.first.setdefault(scope.definition.id, scope.id)

    def __call__(self, key: str) -> tuple[str, str, str | None]:
        if key == ROOT:
            return "", ROOT, None
        first = self.first.get(key)
        where = f" inside subgraph '{self.names[key]}'" + (f" (instance {first})" if first else " (not used)")
        return where, first or ROOT, f"definitions.subgraphs[{self.index[key]}]"


def _check_link_tables(scopes: Scopes, place: _Places, result: WorkflowGraph) -> None:
    """Links the frontend would ignore or choke on: duplicate ids, bad slots, missing ends.

    Each table is checked once, whatever the number of instances of a definition."""
    for key, table in scopes.tables.items():
        where, prefix, path = place(key)
        if key != ROOT and prefix == ROOT:
            continue  # a definition no instance uses: nothing follows its links
        _check_table(table, where, prefix, path, result)


def _check_table(table: Table, where: str, prefix: str, path: str | None, result: WorkflowGraph) -> None:
    for link_id in table.duplicate_link_ids:
        result.problems.append(Diagnostic(
            "duplicate-link", Severity.ERROR, f"link id {link_id} is used by two links{where}",
            file=result.source, found=link_id, expected="unique link ids", path=path,
            hint="open and re-save the workflow in ComfyUI, or delete one of the links"))
    for link in table.bad_links.values():
        target = table.nodes.get(str(link.target_id))
        bad = [f"{end} slot {slot}" for end, slot in (("origin", link.origin_slot), ("target", link.target_slot))
               if not slot_ok(slot)]
        name = _input_name(target, link.target_slot)
        _error(result, "bad-link",
               f"link {link.id}{where} has {' and '.join(bad)}; a slot is a position from 0 to {MAX_SLOT}",
               target, full_id(prefix, target.id) if target is not None else None,
               input=name, found=[link.origin_id, link.origin_slot, link.target_id, link.target_slot],
               expected=f"slots from 0 to {MAX_SLOT}", path=path,
               hint="the file was damaged or hand-edited: reconnect this input in ComfyUI and save again")
    fed: dict[tuple[str, int], int] = {}
    for link in table.links.values():
        if link.target_id in (-20,) or link.origin_id in (-10,):
            continue
        target = table.nodes.get(str(link.target_id))
        if target is None:
            result.problems.append(Diagnostic(
                "dangling-link", Severity.WARNING,
                f"link {link.id}{where} goes to node {link.target_id}, which does not exist",
                file=result.source, found=link.target_id, path=path,
                hint="harmless to ComfyUI, but re-saving the workflow removes it"))
            continue
        key = (str(link.target_id), link.target_slot)
        if key in fed and fed[key] != link.id:
            inputs = target.inputs or []
            uses = inputs[link.target_slot].link if link.target_slot < len(inputs) else None
            if uses not in (fed[key], link.id):
                continue
            result.problems.append(Diagnostic(
                "duplicate-link", Severity.WARNING,
                f"links {fed[key]} and {link.id} both feed input slot {link.target_slot}{where}",
                file=result.source, node_id=full_id(prefix, target.id), node_title=target.title,
                class_type=target.type, found=[fed[key], link.id],
                hint=f"the frontend uses link {uses}; re-save the workflow to drop the other"))
        fed[key] = link.id


def _missing_link_input(scopes: Scopes, problem: Any) -> tuple[int, Any] | None:
    """(slot, input) of a node input holding a link id its graph's link list lacks.

    ComfyUI's frontend keeps such an id when it loads the file (its link fixer walks the
    link list, so it never sees an id that only an input names), and queueing then stops
    in ``ExecutableNodeDTO.resolveInput`` ("No link found in parent graph"): the saved
    widget value is not used in its place, so wfrun refuses too, naming the input."""
    if problem.code != "dangling-link" or problem.node is None or problem.link_id is None:
        return None
    scope = scopes.by_id.get(problem.scope)
    if scope is None or problem.link_id in scope.links:
        return None
    for slot, ui_input in enumerate(problem.node.inputs or []):
        if ui_input.link == problem.link_id:
            return slot, ui_input
    return None


def _input_name(node: UINode | None, slot: int) -> str | None:
    inputs = (node.inputs or []) if node is not None else []
    if not 0 <= slot < len(inputs):
        return None
    ui_input = inputs[slot]
    return ui_input.widget.name if ui_input.widget else ui_input.name


def _add_edges(result: WorkflowGraph) -> None:
    graph = result.graph
    for node_id in list(graph.nodes):
        instance: NodeInstance = graph.nodes[node_id]["node"]
        for name, ref in list(instance.links()):
            if ref.node_id not in graph:
                result.problems.append(Diagnostic(
                    "dangling-link", Severity.ERROR,
                    f"input is linked to node {ref.node_id}, which does not exist",
                    file=result.source, node_id=node_id, node_title=instance.title,
                    class_type=instance.class_type, input=name, found=ref.node_id,
                    hint="connect the input to an existing node"))
                del instance.inputs[name]
                continue
            graph.add_edge(ref.node_id, node_id, key=name, slot=ref.slot, input=name, type=ref.type)


def _find_cycles(result: WorkflowGraph) -> None:
    """Report each loop of links among executable nodes, naming its nodes in order.

    A strongly connected component with more than one node (or a node linked to itself)
    holds at least one loop; one loop per component is named, which is what a user must
    break. networkx finds components and cycles without recursion."""
    graph = result.graph
    reported = 0
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            (only,) = component
            if not graph.has_edge(only, only):
                continue
        if reported == MAX_CYCLES_REPORTED:
            break
        reported += 1
        cycle = nx.find_cycle(graph.subgraph(component))
        ids = [edge[0] for edge in cycle]
        start = min(range(len(ids)), key=lambda i: id_key(ids[i]))
        ids = ids[start:] + ids[:start]
        node = result.node(ids[0])
        result.problems.append(Diagnostic(
            "cycle", Severity.ERROR, f"links form a loop through nodes {' → '.join(ids + [ids[0]])}",
            file=result.source, node_id=node.id, node_title=node.title, class_type=node.class_type,
            found=ids, hint="ComfyUI cannot run a loop: remove one of these links"))


# --- API prompts ----------------------------------------------------------------------

def _build_api(prompt: ApiPrompt, source: str, registry: Registry) -> WorkflowGraph:
    result = WorkflowGraph(nx.MultiDiGraph(), source, "api")
    if not _api_within_limits(prompt, result):
        return result
    for node_id, api_node in prompt.root.items():
        spec = _api_spec(registry, api_node.class_type, api_node.inputs)
        meta = (api_node.model_extra or {}).get("_meta") or {}
        instance = NodeInstance(
            id=str(node_id), class_type=api_node.class_type,
            title=meta.get("title") if isinstance(meta, dict) and isinstance(meta.get("title"), str) else None,
            spec=spec, source_path=(str(node_id),),
        )
        if spec is not None:
            instance.signature = _api_signature(spec, api_node.inputs)
            instance.saved_date = instance.signature.date
            instance.output_types = [o.type for o in instance.signature.outputs]
        for name, value in api_node.inputs.items():
            if not isinstance(value, list):
                instance.inputs[name] = value
            elif is_link(value) and slot_ok(value[1]):
                out_type = _output_type(prompt, registry, str(value[0]), value[1])
                instance.inputs[name] = LinkRef(str(value[0]), value[1], out_type)
            else:
                _bad_api_link(result, instance, name, value)
        result.graph.add_node(instance.id, node=instance)
    _add_edges(result)
    _find_cycles(result)
    return result


def _bad_api_link(result: WorkflowGraph, node: NodeInstance, name: str, value: list) -> None:
    """ComfyUI reads every list in a prompt's inputs as a link ``[node id, output slot]``."""
    if is_link(value):
        what = f"output slot {value[1]}, which is not a position from 0 to {MAX_SLOT}"
    else:
        what = f"a list of {len(value)} item(s) that is not [node id, output slot]"
    result.problems.append(Diagnostic(
        "bad-link", Severity.ERROR, f"input '{name}' is a malformed link: {what}",
        file=result.source, node_id=node.id, node_title=node.title, class_type=node.class_type,
        input=name, found=value, expected='["<node id>", <slot from 0>]',
        hint="ComfyUI reads every list in a prompt as a link; fix the reference or export the prompt again"))


def _api_within_limits(prompt: ApiPrompt, result: WorkflowGraph) -> bool:
    nodes = len(prompt.root)
    links = sum(1 for n in prompt.root.values() for v in n.inputs.values() if isinstance(v, list))
    return _within_limits("prompt", nodes, links, result)


def _output_types(spec: Any, signature: Any, saved: list[Any]) -> list[Any]:
    """The chosen signature's output types, except where the file saved, for a slot, a type
    that a later signature of the node outputs there: the frontend recorded what the node
    gave when the file was saved, while the signature may come from a stale ``properties.ver``
    (it records when a node was created, not saved). Links made against the saved type are
    then read as they were made."""
    types = [o.type for o in signature.outputs]
    later = spec.signatures[spec.signatures.index(signature) + 1:] if signature in spec.signatures else []
    for slot, out in enumerate(saved):
        kind = getattr(out, "type", None)
        if slot < len(types) and kind not in (None, "*", types[slot]) and any(
                slot < len(sig.outputs) and sig.outputs[slot].type == kind for sig in later):
            types[slot] = kind
    return types


def _api_spec(registry: Registry, class_type: str, inputs: dict[str, Any]) -> Any:
    """The spec of ``class_type`` for a prompt node. A prompt names no pack, so where several
    packs have a node of that name (Memory_Cleanup's and QwenVL-Mod's ``VRAMCleanup``), the one
    whose inputs the prompt gives is taken: fewest required inputs missing, then most of the
    prompt's names known; on a tie, the registry's default."""
    specs = registry.specs_of(class_type)
    if len(specs) < 2:
        return registry.get(class_type)
    names = set(inputs)

    def fit(spec: Any) -> tuple[int, int]:
        signature = _api_signature(spec, inputs)
        missing = sum(1 for x in signature.inputs if x.section == "required" and x.name not in names)
        return (-missing, len(names & {x.name for x in signature.inputs}))

    return max(specs, key=fit)  # the first of equals: the default comes first


def _api_signature(spec: Any, inputs: dict[str, Any]) -> Any:
    """The signature the prompt was made for: ComfyUI only queues prompts that give every
    required input, so one with none missing is preferred; among those, the one covering
    the most of the prompt's names (packs like VideoHelperSuite add format-dependent inputs
    that no signature lists), then the newest."""
    names = set(inputs)

    def key(i: int) -> tuple[int, int, int]:
        signature = spec.signatures[i]
        missing = sum(1 for x in signature.inputs if x.section == "required" and x.name not in names)
        return (-missing, len(names & {x.name for x in signature.inputs}), i)

    return spec.signatures[max(range(len(spec.signatures)), key=key)]


def _output_type(prompt: ApiPrompt, registry: Registry, node_id: str, slot: int) -> Any:
    source = prompt.root.get(node_id)
    spec = _api_spec(registry, source.class_type, source.inputs) if source is not None else None
    if spec is None:
        return None
    outputs = _api_signature(spec, source.inputs).outputs
    return outputs[slot].type if 0 <= slot < len(outputs) else None
