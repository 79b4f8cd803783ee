"""Checks for Comfyroll's ``CR Index Increment``, whose function returns two values for its
three outputs (:mod:`.index`): a link from ``show_help`` gets nothing (an error, as ComfyUI
fails there), one from ``interval`` gets the help URL text, not the interval (a warning)."""

from __future__ import annotations

from typing import Iterator

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.graph.check import CheckOptions, node_diagnostic
from wfrun.graph.model import WorkflowGraph
from wfrun.nodes.checks import graph_check


@graph_check
def cr_index_increment_outputs(graph: WorkflowGraph, options: CheckOptions) -> Iterator[Diagnostic]:
    sources = {node.id for node in graph.nodes() if node.class_type == "CR Index Increment"}
    if not sources:
        return
    seen = set()
    for node in graph.nodes():
        for name, ref in node.links():
            if ref.node_id not in sources or ref.slot not in (1, 2) or (ref.node_id, ref.slot) in seen:
                continue
            seen.add((ref.node_id, ref.slot))
            source = graph.node(ref.node_id)
            if ref.slot == 2:
                yield node_diagnostic(
                    graph, source, "dangling-link", Severity.ERROR,
                    "the pack returns no value for its 'show_help' output (its function gives two values "
                    f"for three outputs); node {node.id} reads it", hint="disconnect 'show_help'")
            else:
                yield node_diagnostic(
                    graph, source, "type-mismatch", Severity.WARNING,
                    "the pack's 'interval' output carries its help URL text, not the interval "
                    f"(its function returns (index, help)); node {node.id} reads it",
                    hint="use the interval's own value instead of this output")
