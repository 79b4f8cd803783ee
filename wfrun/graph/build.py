"""Turn a parsed document into a :class:`~wfrun.graph.model.WorkflowGraph`.

Everything the frontend resolves before queueing (reroutes, primitives, Set/Get, bypass,
mute, subgraphs, positional widgets) is resolved here, once, so later stages see only
executable nodes with named inputs. Building never raises on a bad workflow: problems
go to ``WorkflowGraph.problems``.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.formats.api import ApiPrompt, is_link
from wfrun.formats.document import Document
from wfrun.formats.ui import UINode, UIWorkflow
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.graph.resolve import BYPASSED, MUTED, Resolver
from wfrun.graph.scopes import Scopes, expand, full_id
from wfrun.graph.widgets import bind, choose_signature
from wfrun.nodes.registry import FRONTEND_ONLY, Registry, default_registry


def build(doc: Document, registry: Registry | None = None) -> WorkflowGraph:
    registry = registry or default_registry()
    if doc.kind == "api":
        return _build_api(doc.api, doc.source, registry)
    return _build_ui(doc.ui, doc.source, registry)


def _build_ui(workflow: UIWorkflow, source: str, registry: Registry) -> WorkflowGraph:
    scopes = expand(workflow)
    result = WorkflowGraph(nx.MultiDiGraph(), source, "ui")

    unexpandable = {id(n) for _, n in scopes.missing + scopes.too_deep}

    def is_executable(node: UINode) -> bool:
        return node.type not in FRONTEND_ONLY and id(node) not in unexpandable

    resolver = Resolver(scopes, is_executable)
    _report_scope_problems(scopes, result)

    for scope in scopes.by_id.values():
        for local_id, node in scope.nodes.items():
            node_id = full_id(scope.id, local_id)
            if node_id in scopes.by_id or not is_executable(node):
                continue
            if resolver.mode(scope, node) in (MUTED, BYPASSED):
                continue
            instance = _instance_from_ui(node, node_id, registry)
            for ui_input in node.inputs or []:
                if ui_input.link is None:
                    continue
                name = ui_input.widget.name if ui_input.widget else ui_input.name
                origin = resolver.from_link(scope.id, ui_input.link, ui_input.type, node)
                if origin.ref is not None:
                    instance.inputs[name] = origin.ref
                elif origin.has_constant:
                    instance.inputs[name] = origin.constant
                else:
                    instance.cut_inputs[name] = origin.why_none or "not connected"
            result.graph.add_node(node_id, node=instance)

    for problem in resolver.problems:
        node = problem.node
        result.problems.append(Diagnostic(
            problem.code, Severity.ERROR, problem.message, file=source,
            node_id=full_id(problem.scope, node.id) if node is not None else None,
            node_title=node.title if node is not None else None,
            class_type=node.type if node is not None else None,
            hint="reconnect the input in ComfyUI and save again" if problem.code == "dangling-link"
            else "remove one of the links that close the loop"))
    _check_link_table(workflow, scopes, result)
    _add_edges(result)
    return result


def _instance_from_ui(node: UINode, node_id: str, registry: Registry) -> NodeInstance:
    spec = registry.get(node.type)
    props = node.properties or {}
    instance = NodeInstance(
        id=node_id, class_type=node.type, title=node.title, spec=spec,
        properties=props, saved_widgets=node.widgets_values,
        source_path=tuple(node_id.split(":")),
    )
    if spec is not None:
        commits = registry.commit_index(spec.pack)
        ver = props.get("ver") if registry.saved_by(spec.pack, props.get("cnr_id")) else None
        choice = choose_signature(spec, node.widgets_values, commits.get(ver or ""), commits)
        binding = bind(spec, node.widgets_values, choice)
        instance.signature = binding.signature
        instance.binding = binding
        instance.inputs.update(binding.values)
        instance.unbound_widgets = binding.unbound
        instance.output_types = [o.type for o in binding.signature.outputs]
    else:
        instance.output_types = [o.type for o in node.outputs or []]
    if instance.title is None and spec is not None:
        instance.title = spec.display_name
    return instance


def _report_scope_problems(scopes: Scopes, result: WorkflowGraph) -> None:
    for scope_id, node in scopes.missing:
        result.problems.append(Diagnostic(
            "missing-subgraph", Severity.ERROR,
            "this node is a subgraph instance, but the file has no subgraph definition with its id",
            file=result.source, node_id=full_id(scope_id, node.id), node_title=node.title,
            class_type=node.type, found=node.type, expected="an id listed in definitions.subgraphs",
            hint="the subgraph definition was lost; re-export the workflow from ComfyUI"))
    for scope_id, node in scopes.too_deep:
        result.problems.append(Diagnostic(
            "cycle", Severity.ERROR, "subgraphs are nested too deeply (a subgraph contains itself?)",
            file=result.source, node_id=full_id(scope_id, node.id), class_type=node.type,
            hint="a subgraph must not contain an instance of itself"))


def _check_link_table(workflow: UIWorkflow, scopes: Scopes, result: WorkflowGraph) -> None:
    """Links the frontend would ignore or choke on: duplicate ids, missing endpoints."""
    for scope in scopes.by_id.values():
        where = f" inside subgraph instance {scope.id}" if scope.id else ""
        for link_id in scope.duplicate_link_ids:
            result.problems.append(Diagnostic(
                "duplicate-link", Severity.ERROR, f"link id {link_id} is used by two links{where}",
                file=result.source, found=link_id, expected="unique link ids",
                hint="open and re-save the workflow in ComfyUI, or delete one of the links"))
        fed: dict[tuple[str, int], int] = {}
        for link in scope.links.values():
            if link.target_id in (-20,) or link.origin_id in (-10,):
                continue
            target = scope.nodes.get(str(link.target_id))
            if target is None:
                result.problems.append(Diagnostic(
                    "dangling-link", Severity.WARNING,
                    f"link {link.id}{where} goes to node {link.target_id}, which does not exist",
                    file=result.source, found=link.target_id,
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
                    file=result.source, node_id=full_id(scope.id, target.id), node_title=target.title,
                    class_type=target.type, found=[fed[key], link.id],
                    hint=f"the frontend uses link {uses}; re-save the workflow to drop the other"))
            fed[key] = link.id


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


def _build_api(prompt: ApiPrompt, source: str, registry: Registry) -> WorkflowGraph:
    result = WorkflowGraph(nx.MultiDiGraph(), source, "api")
    for node_id, api_node in prompt.root.items():
        spec = registry.get(api_node.class_type)
        meta = (api_node.model_extra or {}).get("_meta") or {}
        instance = NodeInstance(
            id=str(node_id), class_type=api_node.class_type,
            title=meta.get("title") if isinstance(meta, dict) else None,
            spec=spec, source_path=(str(node_id),),
        )
        if spec is not None:
            instance.signature = _api_signature(spec, api_node.inputs)
            instance.output_types = [o.type for o in instance.signature.outputs]
        for name, value in api_node.inputs.items():
            if is_link(value):
                out_type = _output_type(prompt, registry, str(value[0]), value[1])
                instance.inputs[name] = LinkRef(str(value[0]), value[1], out_type)
            else:
                instance.inputs[name] = value
        result.graph.add_node(instance.id, node=instance)
    _add_edges(result)
    return result


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
    spec = registry.get(source.class_type) if source is not None else None
    if spec is None:
        return None
    outputs = _api_signature(spec, source.inputs).outputs
    return outputs[slot].type if 0 <= slot < len(outputs) else None
