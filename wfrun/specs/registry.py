"""Where node specs are found: the ``schemas/nodes/<pack>.json`` files, loaded once.

One place for one fact: a node's inputs live in its spec file; executors and checks ask
the registry instead of repeating them.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from wfrun.specs.spec import NodeSpec, PackSpecs

#: Nodes that exist only in the frontend: resolved while building the graph, never run.
FRONTEND_ONLY = frozenset({
    "Reroute", "PrimitiveNode", "Note", "MarkdownNote", "SetNode", "GetNode",
    "Label (rgthree)", "Bookmark (rgthree)", "Fast Groups Bypasser (rgthree)",
    "Fast Groups Muter (rgthree)", "Fast Bypasser (rgthree)", "Fast Muter (rgthree)",
})

#: Name patterns of well-known packs, to tell a user where an unknown node comes from.
_PACK_HINTS: list[tuple[str, str]] = [
    (r"^WanVideo|WanVideo", "ComfyUI-WanVideoWrapper (kijai)"),
    (r"^VHS_", "ComfyUI-VideoHelperSuite"),
    (r"\+$", "ComfyUI_essentials"),
    (r"\|pysssss$", "ComfyUI-Custom-Scripts (pysssss)"),
    (r"\(rgthree\)$", "rgthree-comfy"),
    (r"^ADE_", "ComfyUI-AnimateDiff-Evolved"),
    (r"KJ|^(Set|Get)Node$", "ComfyUI-KJNodes"),
    (r"Florence2", "ComfyUI-Florence2"),
    (r"DepthAnything", "ComfyUI-DepthAnythingV2"),
    (r"^HyVideo", "ComfyUI-HunyuanVideoWrapper"),
]


def schemas_dir() -> Path:
    """The project's ``schemas/`` folder (override with ``WFRUN_SCHEMAS``)."""
    override = os.environ.get("WFRUN_SCHEMAS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "schemas"


class Registry:
    """All node specs of all packs, keyed by ``class_type``."""

    def __init__(self, packs: list[PackSpecs]):
        self.packs = {p.pack: p for p in packs}
        self._nodes: dict[str, NodeSpec] = {}
        self._cnr_of_pack: dict[str, str | None] = {p.pack: p.cnr_id for p in packs}
        for pack in packs:
            for class_type, spec in pack.nodes.items():
                self._nodes.setdefault(class_type, spec)

    def get(self, class_type: str) -> NodeSpec | None:
        return self._nodes.get(class_type)

    def saved_by(self, pack: str, cnr_id: Any) -> bool:
        """Whether a node's saved ``properties.cnr_id`` names ``pack``. Files spell it as
        the registry id (``comfyui-wanvideowrapper``) or the repository name
        (``ComfyUI-WanVideoWrapper``), in any case; a node without one is taken as the pack's."""
        if cnr_id is None:
            return True
        spec = self.packs.get(pack)
        return str(cnr_id).lower() in {n.lower() for n in (pack, spec.cnr_id if spec else None) if n}

    def __contains__(self, class_type: str) -> bool:
        return class_type in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def class_types(self) -> list[str]:
        return sorted(self._nodes)

    def commit_index(self, pack: str) -> dict[str, int]:
        """Position of each known pack commit (full hash) in its history, oldest first."""
        spec = self.packs.get(pack)
        commits = spec.source.get("commits", []) if spec else []
        return {entry[0]: i for i, entry in enumerate(commits)}


def probable_pack(class_type: str, properties: dict | None = None) -> str | None:
    """Best guess of the pack an unknown node comes from, for the error hint."""
    props = properties or {}
    for key in ("cnr_id", "aux_id"):
        if isinstance(props.get(key), str) and props[key]:
            return props[key]
    for pattern, pack in _PACK_HINTS:
        if re.search(pattern, class_type):
            return pack
    return None


@lru_cache(maxsize=4)
def _load(directory: str) -> Registry:
    packs = []
    for path in sorted(Path(directory).glob("*.json")):
        packs.append(PackSpecs.model_validate(json.loads(path.read_text(encoding="utf-8"))))
    return Registry(packs)


def default_registry() -> Registry:
    return _load(str(schemas_dir() / "nodes"))
