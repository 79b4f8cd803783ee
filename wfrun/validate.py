"""Validate one workflow file end to end: JSON, JSON Schema, graph, semantic checks.

The single entry point ``validate_file`` is what ``wfrun validate`` calls per file. It
never raises for a bad workflow; every problem is a diagnostic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.formats.document import FormatError, detect_kind, from_data, json_path, parse_json
from wfrun.formats.source import read_workflow
from wfrun.graph import CheckOptions, WorkflowGraph, build, check
from wfrun.nodes.registry import Registry, default_registry, schemas_dir

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
    graph = build(doc, registry or default_registry())
    result.graph = graph
    result.diagnostics.extend(check(graph, options))
    return result


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
