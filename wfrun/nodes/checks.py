"""Checks a pack adds to ``wfrun validate`` and ``wfrun run``'s checks, registered the way
executors are: by decorator, when the pack's ``checks`` module is imported.

What a check *is* (its arguments, and where the checker calls it) is defined by
``wfrun.graph.check`` (``GraphCheck``, ``ValueCheck``, ``PackChecks``); this module, on the
same floor as ``graph``, only keeps the functions. ``wfrun.engine.executors.pack_checks``
imports every pack's ``checks`` module and hands them to the job layer, which passes them
to ``check``: the graph layer never looks a pack up.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

#: ``(graph, options) -> diagnostics``: a rule across the whole graph (``GraphCheck``).
GraphCheckFn = Callable[..., Iterable[Any]]
#: ``(graph, node, input spec, value) -> diagnostics``: a rule on one constant number
#: within its spec's range (``ValueCheck``).
ValueCheckFn = Callable[..., Iterable[Any]]

_GRAPH_CHECKS: list[GraphCheckFn] = []
_VALUE_CHECKS: list[ValueCheckFn] = []


def graph_check(fn: GraphCheckFn) -> GraphCheckFn:
    """Register a whole-graph check; it runs after every node's own checks."""
    if fn not in _GRAPH_CHECKS:
        _GRAPH_CHECKS.append(fn)
    return fn


def value_check(fn: ValueCheckFn) -> ValueCheckFn:
    """Register a check of one node input's constant number (an INT or FLOAT of the right
    kind and within the spec's range), run where the generic value checks run."""
    if fn not in _VALUE_CHECKS:
        _VALUE_CHECKS.append(fn)
    return fn


def registered_graph_checks() -> tuple[GraphCheckFn, ...]:
    return tuple(_GRAPH_CHECKS)


def registered_value_checks() -> tuple[ValueCheckFn, ...]:
    return tuple(_VALUE_CHECKS)
