"""Where node specs are found: the ``schemas/nodes/<pack>.json`` files, loaded once.

One place for one fact: a node's inputs live in its spec file; executors and checks ask
the registry instead of repeating them.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from wfrun.specs.spec import NodeSpec, PackSpecs

#: Nodes that exist only in the frontend: resolved while building the graph, never run.
#: rgthree's are its virtual nodes (``isVirtualNode``, never in a prompt) that act only on
#: the nodes' modes in the window (the file keeps the modes they left) or do nothing:
#: the mode relay and repeater, the node collector and the actions button, as well as
#: labels, bookmarks and the fast muters/bypassers. Not its Random Unmuter (it changes
#: modes at every queue) nor its Power Conductor.
FRONTEND_ONLY = frozenset({
    "Reroute", "PrimitiveNode", "Note", "MarkdownNote", "SetNode", "GetNode", "easy setNode", "easy getNode",
    "Label (rgthree)", "Bookmark (rgthree)", "Fast Groups Bypasser (rgthree)",
    "Fast Groups Muter (rgthree)", "Fast Bypasser (rgthree)", "Fast Muter (rgthree)",
    "Mute / Bypass Repeater (rgthree)", "Mute / Bypass Relay (rgthree)", "Node Collector (rgthree)",
    "Fast Actions Button (rgthree)",
})

#: A group node of ComfyUI's first frontend (``extra.groupNodes``, type ``workflow>Name`` as saved,
#: ``workflow/Name`` in older files): its inner nodes and widget values live in the file, but
#: wfrun does not expand it.
_LEGACY_GROUP = re.compile(r"^workflow[>/].")
LEGACY_GROUP_NODE = ("'{}' is a group node of ComfyUI's earlier frontend (kept under extra.groupNodes), "
                     "which wfrun expands only in its plain form (no renamed or hidden slots, no widget fed from "
                     "outside the group); this one is not")
LEGACY_GROUP_HINT = ("in ComfyUI, right click the node → Convert to nodes (or use the workflow's API export), "
                     "save, and run that file")


def is_legacy_group_node(class_type: str) -> bool:
    """Whether ``class_type`` names a legacy group node (see :data:`LEGACY_GROUP_NODE`)."""
    return bool(_LEGACY_GROUP.match(class_type))


#: Name patterns of well-known packs, to tell a user where an unknown node comes from:
#: (pattern, the pack as told, its spec file's pack name where wfrun has one). Other packs
#: use the same words (``WanVideoLooper`` is SquirrelRat's), so a pattern does not count
#: for a node that the named pack's specs, listing every node it ever had, do not hold.
_PACK_HINTS: list[tuple[str, str, str | None]] = [
    (r"^WanVideo|WanVideo", "ComfyUI-WanVideoWrapper (kijai)", "ComfyUI-WanVideoWrapper"),
    (r"^VHS_", "ComfyUI-VideoHelperSuite", "comfyui-videohelpersuite"),
    (r"\+$", "ComfyUI_essentials", "comfyui_essentials"),
    (r"\|pysssss$", "ComfyUI-Custom-Scripts (pysssss)", "comfyui-custom-scripts"),
    (r"\(rgthree\)$", "rgthree-comfy", "rgthree-comfy"),
    (r"^ADE_", "ComfyUI-AnimateDiff-Evolved", None),
    (r"KJ|^(Set|Get)Node$", "ComfyUI-KJNodes", "comfyui-kjnodes"),
    (r"Florence2", "ComfyUI-Florence2", "comfyui-florence2"),
    (r"DepthAnything", "ComfyUI-DepthAnythingV2", "comfyui-depthanythingv2"),
    (r"^HyVideo", "ComfyUI-HunyuanVideoWrapper", "ComfyUI-HunyuanVideoWrapper"),
    (r"^Layer(Utility|Mask|Style|Color|Filter): ", "ComfyUI_LayerStyle (chflame163)", "comfyui_layerstyle"),
]
#: Spec extractors; their files list every node of the pack unless ``only_nodes`` or
#: ``head_only`` says otherwise (hand-written files hold the nodes someone needed).
_EXTRACTORS = ("wfrun.specs.extract", "wfrun.nodes.extract")


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
    before, except that a fork (its spec file's ``source.fork_of`` names the repository it
    forked) gives way to the pack it forked, whose name its nodes kept. (``Node name for S&R``
    is the node type again, so it names no pack.)"""

    def __init__(self, packs: list[PackSpecs]):
        self.packs = {p.pack: p for p in packs}
        self._nodes: dict[str, NodeSpec] = {}
        self._all: dict[str, list[NodeSpec]] = {}
        self._cnr_of_pack: dict[str, str | None] = {p.pack: p.cnr_id for p in packs}
        for pack in packs:
            for class_type, spec in pack.nodes.items():
                self._nodes.setdefault(class_type, spec)
                self._all.setdefault(class_type, []).append(spec)
        by_repo = {str(p.source.get("repo") or "").lower(): p.pack for p in packs}
        for class_type, specs in self._all.items():  # a fork's namesake of its origin's node gives way
            origin = by_repo.get(str(self.packs[specs[0].pack].source.get("fork_of") or "").lower())
            first = next((s for s in specs if s.pack == origin), None) if origin else None
            if first is not None:
                specs.remove(first)
                specs.insert(0, first)
                self._nodes[class_type] = first

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


#: ComfyUI's own nodes' pack: its spec file is extracted from ComfyUI itself, every node it has.
CORE_PACK = "comfy-core"


def lists_every_node(pack: PackSpecs) -> bool:
    """Whether a spec file holds every node its pack ever had (an extractor's, over the
    pack's history, not narrowed to some nodes), so a node it lacks is not the pack's."""
    source = pack.source
    return (str(source.get("tool", "")) in _EXTRACTORS and not source.get("head_only", True)
            and not source.get("only_nodes"))


def probable_pack(class_type: str, properties: dict | None = None, registry: Registry | None = None) -> str | None:
    """Best guess of the pack an unknown node comes from, for the error hint: the saved
    ``aux_id`` (the repository it was installed from: more telling than a ``cnr_id`` that
    a pack may leave at its template's ``comfyui-customnodes-template``), else ``cnr_id``,
    else the first name pattern whose pack could hold it (see ``_PACK_HINTS``)."""
    props = properties or {}
    for key in ("aux_id", "cnr_id"):
        if isinstance(props.get(key), str) and props[key]:
            return props[key]
    registry = registry if registry is not None else default_registry()
    for pattern, pack, spec_pack in _PACK_HINTS:
        if not re.search(pattern, class_type):
            continue
        specs = registry.packs.get(spec_pack) if spec_pack else None
        if specs is not None and lists_every_node(specs) and class_type not in specs.nodes:
            continue  # the pack never had it: another pack's node of a similar name
        return pack
    return None


def similar_nodes(class_type: str, pack: str | None, registry: Registry | None = None, limit: int = 3,
                  cutoff: float = 0.6) -> list[str]:
    """Node types of ``pack`` (by pack name or registry id) whose names are close to
    ``class_type`` (difflib's ratio), where wfrun knows every node that pack has (its spec
    file lists them all, or it is ComfyUI's own nodes, extracted from ComfyUI itself): the
    hint for a misspelt or made-up node, which that pack does not have and ComfyUI refuses
    too. Apps and language models write API prompts with such names (``EmptyWanLatentVideo``
    for ``EmptyHunyuanLatentVideo``: three of the public sets' files). Nothing for a pack
    wfrun knows only in part: the node may be real."""
    registry = registry if registry is not None else default_registry()
    complete = [p for p in registry.packs.values()
                if pack is not None and pack in (p.pack, p.cnr_id) and (lists_every_node(p) or p.pack == CORE_PACK)]
    names = sorted({n for p in complete for n in p.nodes})
    return difflib.get_close_matches(class_type, names, n=limit, cutoff=cutoff) if names else []


@lru_cache(maxsize=4)
def _load(directory: str) -> Registry:
    packs = []
    for path in sorted(Path(directory).glob("*.json")):
        packs.append(PackSpecs.model_validate(json.loads(path.read_text(encoding="utf-8"))))
    return Registry(packs)


def default_registry() -> Registry:
    return _load(str(schemas_dir() / "nodes"))
