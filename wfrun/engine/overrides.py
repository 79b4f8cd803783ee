"""``--set NODE.INPUT=VALUE`` and ``--seed N``: change widget values for one run.

NODE is a node id (``12``, or ``12:5`` for node 5 inside subgraph instance 12) or a node
title (unique in the workflow; matched exactly first, then ignoring case, since a title
typed in a shell rarely has the capitals the workflow author chose). A subgraph instance
(by id or title) can be named too, with one of its own widgets: the value goes to every
input inside that the widget feeds, as editing the widget in the UI does. VALUE is read as
JSON when it parses (``5``, ``2.5``, ``true``, ``"text"``) and as plain text otherwise,
then converted to the input's type from the node's spec, so ``--set 27.steps=8`` sets an
INT. The graph is checked *after* the overrides, so an out-of-range value is reported
like one saved in the file. Numbers in messages are shown as a user writes them
(:mod:`wfrun.graph.numbers`).
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.graph.numbers import shown, spec_bound
from wfrun.specs.spec import InputSpec

SEED_INPUTS = ("seed", "noise_seed")
#: Candidates listed when a title matches several nodes or none.
_LISTED = 8


class OverrideError(ValueError):
    """A ``--set`` that names no node or input, or a value of the wrong kind."""


@dataclass(frozen=True)
class Override:
    node: str
    input: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> "Override":
        target, sep, raw = text.partition("=")
        node, dot, name = target.rpartition(".")
        if not sep or not dot or not node or not name:
            raise OverrideError(f"--set {text!r}: expected NODE.INPUT=VALUE, e.g. --set 27.steps=8")
        try:
            value = json.loads(raw)
        except ValueError:  # also numbers too long to convert: kept as text, refused later
            value = raw
        return cls(node, name, value)


def _describe(nodes: list[NodeInstance]) -> str:
    shown_nodes = ", ".join(f"{n.id} '{n.label}'" for n in nodes[:_LISTED])
    return shown_nodes + (f", … ({len(nodes) - _LISTED} more)" if len(nodes) > _LISTED else "")


def find_node(graph: WorkflowGraph, ref: str) -> NodeInstance:
    """The node ``ref`` names: its id, else its exact title (or type, when untitled),
    else its title or type ignoring case. Several matches at one level are an error."""
    nodes = list(graph.nodes())
    ids = {n.id: n for n in nodes}
    if ref in ids:
        return ids[ref]
    folded = ref.casefold()
    for matches in ([n for n in nodes if n.title == ref or (n.title is None and n.class_type == ref)],
                    [n for n in nodes if n.label.casefold() == folded or n.class_type.casefold() == folded]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise OverrideError(f"--set: {len(matches)} nodes match {ref!r} ({_describe(matches)}); "
                                "use the node id")
    labels = sorted({n.label for n in nodes})
    close = difflib.get_close_matches(ref, labels, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "; `wfrun graph FILE` lists them"
    raise OverrideError(f"--set: no node has the id or title {ref!r}{hint}")


def _expected(spec: InputSpec) -> str:
    """What the input takes, in words, with its range as the user would type it."""
    words = {"INT": "a whole number", "FLOAT": "a number", "BOOLEAN": "true or false",
             "STRING": "text"}.get(spec.type, spec.type)
    low, high = spec_bound(spec.min, spec.type, upper=False), spec_bound(spec.max, spec.type, upper=True)
    if spec.type in ("INT", "FLOAT") and (low is not None or high is not None):
        words += f" from {'-∞' if low is None else shown(low)} to {'∞' if high is None else shown(high)}"
    return f"{words} ({spec.type})"


def _coerce(node: NodeInstance, name: str, value: Any) -> Any:
    spec = next((s for s in (node.signature.inputs if node.signature else []) if s.name == name), None)
    if spec is None and name in node.inputs and not isinstance(node.inputs[name], LinkRef):
        # a widget the node adds beyond its spec, saved with its value (a VHS format's own
        # widgets, ``pix_fmt``, ``crf``; a dynamic combo's ``resize_type.width``): its
        # executor checks the value, so it is taken as typed
        return value
    if spec is None:
        names = [s.name for s in node.signature.inputs] if node.signature else []
        names += [n for n, v in node.inputs.items() if n not in names and not isinstance(v, LinkRef)]
        known = ", ".join(names) or "(no spec)"
        raise OverrideError(f"--set: node {node.id} '{node.label}' has no input {name!r}; inputs: {known}")
    if not spec.is_widget:
        raise OverrideError(f"--set: input {name!r} of node {node.id} '{node.label}' takes a link, not a value")
    try:
        if spec.type in ("INT", "FLOAT"):
            return _number(spec.type, value)
        if spec.type == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError
        if spec.type == "STRING":
            return value if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError, OverflowError):
        raise OverrideError(f"--set {node.id}.{name}: node {node.id} '{node.label}' input {name!r} "
                            f"takes {_expected(spec)}, not {_quoted(value)}") from None
    return value


def _number(kind: str, value: Any) -> int | float:
    """A finite INT or FLOAT: no booleans (``true`` is not 1 steps), no NaN or infinity.
    Text that is a number (``08``, which is not JSON) counts as that number."""
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if kind == "INT" and text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError
    if kind == "FLOAT":
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        # through the shortest decimal form: 1e30 is 10**30, as typed, not the binary
        # neighbour int(1e30) = 1000000000000000019884624838656
        return int(Decimal(repr(value)))
    return int(value)


def _quoted(value: Any) -> str:
    return repr(value) if isinstance(value, str) else shown(value)


def _targets(graph: WorkflowGraph, item: Override) -> list[tuple[NodeInstance, str, Any]]:
    """The (node, input, value) changes one ``--set`` makes: the node it names, or, for a
    subgraph instance (named by id or title as in the UI), every input inside that its
    widget feeds."""
    try:
        node = find_node(graph, item.node)
    except OverrideError as err:
        instance_id = _find_instance(graph, item.node)
        if instance_id is None:
            titles = sorted({w.title for w in graph.instance_widgets.values() if w.title})
            close = difflib.get_close_matches(item.node, titles, n=3, cutoff=0.6)
            if close:
                raise OverrideError(f"--set: no node or subgraph node has the id or title {item.node!r}; "
                                    f"did you mean {', '.join(repr(c) for c in close)}?") from None
            raise err from None
        widgets = graph.instance_widgets[instance_id]
        feeds = widgets.feeds.get(item.input)
        if not feeds:
            raise OverrideError(f"--set: subgraph node {instance_id} '{widgets.title or instance_id}' has no "
                                f"widget {item.input!r} that feeds a value inside; its widgets: "
                                f"{', '.join(sorted(widgets.feeds)) or '(none)'}") from None
        return [(inner, name, _coerce(inner, name, item.value))
                for inner, name in ((graph.node(node_id), name) for node_id, name in feeds)]
    value = _coerce(node, item.input, item.value)
    if isinstance(node.inputs.get(item.input), LinkRef):
        raise OverrideError(f"--set {node.id}.{item.input}: this input of node {node.id} '{node.label}' "
                            "is fed by a link in the workflow")
    return [(node, item.input, value)]


def overridden_inputs(graph: WorkflowGraph, overrides: list[Override]) -> set[tuple[str, str]]:
    """The (node id, input name) pairs the ``--set`` options change (after
    :func:`apply_overrides` accepted them): what --smoke must leave as the user set it."""
    return {(node.id, name) for item in overrides for node, name, _ in _targets(graph, item)}


def _find_instance(graph: WorkflowGraph, ref: str) -> str | None:
    """The subgraph instance ``ref`` names by full id or unique title (exact, then ignoring
    case); None when none or several do."""
    if ref in graph.instance_widgets:
        return ref
    folded = ref.casefold()
    for same in (lambda title: title == ref, lambda title: title.casefold() == folded):
        found = [i for i, w in graph.instance_widgets.items() if w.title is not None and same(w.title)]
        if len(found) == 1:
            return found[0]
    return None


def apply_overrides(graph: WorkflowGraph, overrides: list[Override], seed: int | None = None) -> list[str]:
    """Change the graph's constant inputs in place; returns a line per change. An error
    names the workflow file first, like every other error about it."""
    changes = []
    for item in overrides:
        try:
            targets = _targets(graph, item)
        except OverrideError as err:
            raise OverrideError(f"{graph.source}: {err}") from None
        for node, name, value in targets:
            node.inputs[name] = value
            changes.append(f"node {node.id} '{node.label}': {name} = {_quoted(value)}")
    if seed is not None:
        for node in graph.nodes():
            for name in SEED_INPUTS:
                if name in node.inputs and not isinstance(node.inputs[name], LinkRef):
                    node.inputs[name] = int(seed)
                    changes.append(f"node {node.id} '{node.label}': {name} = {seed}")
    return changes
