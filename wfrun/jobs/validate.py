"""Validate one workflow file end to end: JSON, JSON Schema, graph, semantic checks, and
whether ``wfrun migrate`` would change it.

The single entry point ``validate_file`` is what ``wfrun validate`` calls per file. It
never raises for a bad workflow; every problem is a diagnostic.

A node saved in an older layout of its widgets is a ``needs-migration`` warning, so
``validate --strict`` and ``migrate --check`` agree on every file. The decision is the
migrate machinery's own (the same ``migrate_document`` the two other commands run), not
a second guess from the graph's widget binding: signature choice by date, the packs'
rules and re-typed links all count. A node whose own diagnostic already sends the
user to ``wfrun migrate`` (a text where a boolean belongs, values fitting no signature)
gets no second warning. This module combines the two layers; ``graph`` stays below
``migrate`` and never imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.formats.document import Document, FormatError, detect_kind, from_data, json_path, parse_json
from wfrun.formats.source import read_workflow
from wfrun.engine.executors import pack_checks
from wfrun.graph import CheckOptions, WorkflowGraph, build, check
from wfrun.graph.limits import TRUNCATING_CODES
from wfrun.specs.registry import Registry, default_registry, schemas_dir

SCHEMA_FILES = {"ui": "workflow-ui.schema.json", "api": "workflow-api.schema.json"}
MAX_SCHEMA_PROBLEMS = 20


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    graph: WorkflowGraph | None = None

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.diagnostics if d.severity == severity)


@lru_cache(maxsize=2)
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((schemas_dir() / SCHEMA_FILES[kind]).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def schema_problems(data: Any, source: str) -> list[Diagnostic]:
    """JSON Schema violations, each with the JSON path of the bad field."""
    kind = detect_kind(data) or ("ui" if isinstance(data, dict) and "nodes" in data else None)
    if kind is None:
        return []
    out = []
    for error in sorted(_validator(kind).iter_errors(data), key=lambda e: list(e.absolute_path)):
        error = _most_specific(error)
        path = json_path(tuple(error.absolute_path))
        out.append(Diagnostic("schema", Severity.ERROR, error.message[:300], file=source,
                              path=path or "(top level)",
                              hint="the file was damaged or hand-edited; re-export it from ComfyUI"))
        if len(out) >= MAX_SCHEMA_PROBLEMS:
            break
    return out


def _most_specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For ``anyOf`` failures, descend to the alternative that got furthest."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return error


def _format_error(err: FormatError) -> list[Diagnostic]:
    return [Diagnostic(p.code, Severity.ERROR, p.message, file=err.source, line=p.line,
                       column=p.column, path=p.path or None) for p in err.problems]


def validate_text(text: str, source: str, options: CheckOptions | None = None,
                  registry: Registry | None = None) -> FileResult:
    result = FileResult(source)
    try:
        data = parse_json(text, source)
    except FormatError as err:
        result.diagnostics = _format_error(err)
        return result
    # The schemas are generated from the pydantic models (tests hold them equal), so
    # the fast pydantic pass decides, and jsonschema is asked for its precise paths only
    # when a file is refused; jsonschema on every file would triple validation time.
    try:
        doc = from_data(data, source)
    except FormatError as err:
        result.diagnostics = schema_problems(data, source) or _format_error(err)
        return result
    registry = registry or default_registry()
    graph = build(doc, registry)
    result.graph = graph
    result.diagnostics.extend(check(graph, options, pack_checks()))
    told = {d.node_id for d in result.diagnostics if d.code in _SAY_MIGRATE}
    result.diagnostics.extend(d for d in migration_warnings(doc, graph, registry) if d.node_id not in told)
    return result


#: Checks whose diagnostics already send the user to `wfrun migrate` for their node (a
#: text where a boolean belongs, values that fit no signature): no second warning.
_SAY_MIGRATE = frozenset({"wrong-value-type", "widget-mismatch"})
#: Changes listed in a needs-migration message before "…".
_SHOWN_CHANGES = 3


def migration_warnings(doc: Document, graph: WorkflowGraph, registry: Registry) -> list[Diagnostic]:
    """A ``needs-migration`` warning per node ``wfrun migrate`` would rewrite."""
    if doc.kind != "ui" or any(d.code in TRUNCATING_CODES for d in graph.problems):
        return []
    from wfrun.migrate import migrate_document

    outcome = migrate_document(doc, registry=registry)
    index = {sg.id: i for i, sg in reversed(list(enumerate(doc.ui.subgraphs)))}
    out = []
    for report in outcome.nodes:
        if not report.changed:
            continue
        changes = [c.text() for c in report.changes]
        listed = "; ".join(changes[:_SHOWN_CHANGES]) + ("; …" if len(changes) > _SHOWN_CHANGES else "")
        spec = registry.get(report.class_type)
        latest = spec.latest if spec is not None else None
        older = bool(report.saved_commit and latest is not None and report.saved_commit != latest.first_commit)
        what = ("the saved widget values are in an older layout of this node" if older
                else "the node pack changed this node since the file was saved")
        where, node_id, path = "", str(report.id), None
        if report.scope:
            first = graph.first_instances.get(report.scope)
            node_id = f"{first}:{report.id}" if first else str(report.id)
            where = " (in its subgraph definition)" if first else " (in a subgraph definition no instance uses)"
            path = f"definitions.subgraphs[{index[report.scope]}]" if report.scope in index else None
        out.append(Diagnostic(
            "needs-migration", Severity.WARNING, f"{what}{where}; `wfrun migrate` would change: {listed}",
            file=doc.source, node_id=node_id, node_title=report.title, class_type=report.class_type, path=path,
            found=_layout(report.saved_date, report.saved_commit) if report.saved_date else None,
            expected=_layout(latest.date, latest.first_commit) if older and latest is not None else None,
            hint=f"run `wfrun migrate {doc.source}` to see the changes, "
            "and add `--in-place` to write them (the original is kept as .bak)"))
    return out


def _layout(date: str | None, commit: str | None) -> str:
    return f"the layout of {date or 'an unknown date'} ({(commit or '?')[:7]})"


def validate_file(path: str | Path, options: CheckOptions | None = None,
                  registry: Registry | None = None) -> FileResult:
    path = Path(path)
    try:
        loaded = read_workflow(path)  # JSON, or the workflow embedded in an image or video
    except FormatError as err:
        return FileResult(str(path), _format_error(err))
    result = validate_text(loaded.text, str(path), options, registry)
    result.diagnostics[:0] = [  # a damaged UI workflow passed over for the API prompt: say so
        Diagnostic(p.code, Severity.WARNING, f"{p.message}; the {loaded.origin} was read instead", file=str(path))
        for p in loaded.passed_over]
    return result
