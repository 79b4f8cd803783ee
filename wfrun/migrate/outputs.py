"""A migrated node's outputs follow its newest signature, and so do the links leaving it.

A pack that changes a node's output type (WanVideo's CLIP loader gave ``WANCLIP``, then
``CLIP_VISION``) leaves two stale things in an old file: the output's saved ``type`` and
the type of each link out of it, and, where the node's values did not move, nothing that
tells a reader which signature to use. ``properties.ver`` often says an old commit even
when the file was saved later: the frontend records the pack version a node was *created*
with and never updates it. Graph building reads the node with that old signature and
its old output types, and a consumer of the newer type looks mis-wired.

:func:`sync_outputs` therefore, for a node that was rewritten or that would be read with
a signature whose output types differ from the newest's: retypes each output whose
saved type differs from the newest, the links out of it (through Reroutes and
SetNode/GetNode, whose outputs pass the type on) and the consumers' sockets of the old
type, and records ``properties.ver`` so the node is read with the newest signature. A
second run finds nothing to do.
"""

from __future__ import annotations

from typing import Any

from wfrun.graph.widgets import choose_signature
from wfrun.migrate.report import Change
from wfrun.migrate.rule import RetypeOutput
from wfrun.migrate.rules import retype_output
from wfrun.migrate.scope import Scope
from wfrun.specs.registry import Registry
from wfrun.specs.spec import NodeSpec, Signature


def read_signature(node: dict[str, Any], spec: NodeSpec, registry: Registry) -> Signature:
    """The signature graph building reads ``node`` with (``graph.build`` decides the same way)."""
    values = node.get("widgets_values")
    if not isinstance(values, (list, dict)):
        values = None
    props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
    ver = props.get("ver") if registry.saved_by(spec.pack, props.get("cnr_id")) else None
    commits = registry.commit_index(spec.pack)
    at = commits.get(ver) if isinstance(ver, str) else None
    return spec.signatures[choose_signature(spec, values, at, commits).index]


def _types(signature: Signature) -> list[Any]:
    return [o.type for o in signature.outputs]


def _concrete(kind: Any) -> bool:
    return isinstance(kind, str) and kind not in ("", "*")


def stale_outputs(node: dict[str, Any], spec: NodeSpec, registry: Registry) -> bool:
    """Whether ``node`` would be read with output types other than the newest signature's."""
    read = _types(read_signature(node, spec, registry))
    latest = _types(spec.latest)
    return any(_concrete(new) and old != new for old, new in zip(read, latest)) or \
        (len(read) != len(latest) and any(_concrete(t) for t in latest))


def sync_outputs(node: dict[str, Any], scope: Scope, spec: NodeSpec,
                 followers: dict[Any, list[Change]]) -> list[Change]:
    """Give ``node``'s saved outputs, and the links out of them, the newest signature's types."""
    out: list[Change] = []
    outputs = node.get("outputs")
    if not isinstance(outputs, list):
        return out
    for slot, (saved, new) in enumerate(zip(outputs, spec.latest.outputs)):
        if not isinstance(saved, dict) or not _concrete(new.type):
            continue
        old = saved.get("type")
        if not isinstance(old, str) or old == new.type:
            continue
        edit = RetypeOutput(op="retype_output", slot=slot, old_type=old, type=new.type)
        out += retype_output(edit, node, scope, None, followers)
    return out
