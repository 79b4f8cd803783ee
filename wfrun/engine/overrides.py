"""``--set NODE.INPUT=VALUE`` and ``--seed N``: change widget values for one run.

NODE is a node id (``12``, or ``12:5`` for node 5 inside subgraph instance 12) or a node
title (unique in the workflow). VALUE is read as JSON when it parses (``5``, ``2.5``,
``true``, ``"text"``) and as plain text otherwise, then converted to the input's type from
the node's spec, so ``--set 27.steps=8`` sets an INT. The graph is checked *after* the
overrides, so an out-of-range value is reported like one saved in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph

SEED_INPUTS = ("seed", "noise_seed")


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
        except ValueError:
            value = raw
        return cls(node, name, value)


def find_node(graph: WorkflowGraph, ref: str) -> NodeInstance:
    ids = {n.id: n for n in graph.nodes()}
    if ref in ids:
        return ids[ref]
    by_title = [n for n in graph.nodes() if n.title == ref or (n.title is None and n.class_type == ref)]
    if len(by_title) == 1:
        return by_title[0]
    if len(by_title) > 1:
        raise OverrideError(f"--set: {len(by_title)} nodes are titled {ref!r} "
                            f"(ids {', '.join(n.id for n in by_title)}); use the node id")
    raise OverrideError(f"--set: no node with id or title {ref!r}")


def _coerce(node: NodeInstance, name: str, value: Any) -> Any:
    spec = next((s for s in (node.signature.inputs if node.signature else []) if s.name == name), None)
    if spec is None:
        known = ", ".join(s.name for s in node.signature.inputs) if node.signature else "(no spec)"
        raise OverrideError(f"--set: node {node.id} '{node.label}' has no input {name!r}; inputs: {known}")
    if not spec.is_widget:
        raise OverrideError(f"--set: input {name!r} of node {node.id} '{node.label}' takes a link, not a value")
    try:
        if spec.type == "INT":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if spec.type == "FLOAT":
            return float(value)
        if spec.type == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError
        if spec.type == "STRING":
            return value if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError):
        raise OverrideError(f"--set {node.id}.{name}: {value!r} is not {spec.type}") from None
    return value


def apply_overrides(graph: WorkflowGraph, overrides: list[Override], seed: int | None = None) -> list[str]:
    """Change the graph's constant inputs in place; returns a line per change."""
    changes = []
    for item in overrides:
        node = find_node(graph, item.node)
        value = _coerce(node, item.input, item.value)
        if isinstance(node.inputs.get(item.input), LinkRef):
            raise OverrideError(f"--set {node.id}.{item.input}: this input is fed by a link in the workflow")
        node.inputs[item.input] = value
        changes.append(f"node {node.id} '{node.label}': {item.input} = {value!r}")
    if seed is not None:
        for node in graph.nodes():
            for name in SEED_INPUTS:
                if name in node.inputs and not isinstance(node.inputs[name], LinkRef):
                    node.inputs[name] = int(seed)
                    changes.append(f"node {node.id} '{node.label}': {name} = {seed}")
    return changes
