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
    """All node specs of all packs, keyed by ``class_type``.

    Two packs can name a node the same (ComfyUI core's compatibility ``wanBlockSwap`` and
    orssorbit's ComfyUI-wanBlockswap node; KJNodes' early ``CFGZeroStar`` and core's). A
    file says which one it holds where the frontend saved the node's pack identity
    (``properties.cnr_id``, the registry id, or ``aux_id``, the GitHub ``owner/name``):
    :meth:`get` with the node's properties picks that pack's spec. Without one, or when no
    pack of that identity has the node, the first pack in file-name order keeps it, as
    before. (``Node name for S&R`` is the node type again, so it names no pack.)"""

    def __init__(self, packs: list[PackSpecs]):
        self.packs = {p.pack: p for p in packs}
        self._nodes: dict[str, NodeSpec] = {}
        self._all: dict[str, list[NodeSpec]] = {}
        self._cnr_of_pack: dict[str, str | None] = {p.pack: p.cnr_id for p in packs}
        for pack in packs:
            for class_type, spec in pack.nodes.items():
                self._nodes.setdefault(class_type, spec)
                self._all.setdefault(class_type, []).append(spec)

    def get(self, class_type: str, properties: Any = None) -> NodeSpec | None:
        """The spec of ``class_type``; with a node's saved ``properties``, the one of the
        pack they name when several packs have the node (see the class doc)."""
        default = self._nodes.get(class_type)
        specs = self._all.get(class_type, ())
        if len(specs) < 2 or not isinstance(properties, dict):
            return default
        for spec in specs:
            if self.identifies(spec.pack, properties):
                return spec
        return default

    def specs_of(self, class_type: str) -> list[NodeSpec]:
        """Every pack's spec of ``class_type`` (the default first)."""
        return list(self._all.get(class_type, ()))

    def identifies(self, pack: str, properties: dict) -> bool:
        """Whether a node's saved ``cnr_id`` or ``aux_id`` names ``pack`` (its spec file's
        pack name, registry id, or source repository, compared without case; an ``aux_id``
        of a fork matches by repository name)."""
        spec = self.packs.get(pack)
        if spec is None:
            return False
        repo = str(spec.source.get("repo") or "")
        names = {n.lower() for n in (pack, spec.cnr_id, repo, repo.rpartition("/")[2]) if n}
        cnr_id, aux_id = properties.get("cnr_id"), properties.get("aux_id")
        if isinstance(cnr_id, str) and cnr_id.lower() in names:
            return True
        return isinstance(aux_id, str) and bool(aux_id) and (
            aux_id.lower() in names or aux_id.rpartition("/")[2].lower() in names)

    def is_default(self, spec: NodeSpec) -> bool:
        """Whether ``spec`` is the one :meth:`get` gives without properties (an executor
        registered by ``class_type`` alone serves that one; another pack's needs its own)."""
        default = self._nodes.get(spec.class_type)
        return default is None or default.pack == spec.pack or spec.pack not in self.packs

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
