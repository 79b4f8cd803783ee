"""Input fingerprints: a node whose fingerprint is unchanged need not run again.

A fingerprint covers the node type, its constant inputs and the fingerprints of the
outputs that feed it, so changing one widget invalidates exactly what depends on it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from wfrun.graph.model import LinkRef, NodeInstance


def fingerprint(node: NodeInstance, inputs: dict[str, Any], upstream: dict[str, str]) -> str:
    parts: dict[str, Any] = {"class_type": node.class_type}
    for name in sorted(inputs):
        value = inputs[name]
        if isinstance(value, LinkRef):
            parts[name] = ["link", upstream[value.node_id], value.slot]
        else:
            parts[name] = ["value", value]
    text = json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
