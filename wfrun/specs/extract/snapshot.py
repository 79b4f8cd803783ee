"""Which nodes one snapshot of a pack registers, and what each looks like.

ComfyUI loads a pack by importing its root ``__init__.py`` and reading
``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS`` (merged there from submodules
with ``.update`` or ``{**a, **b}``, or built by a helper function), and V3 packs also
through ``comfy_entrypoint()`` -> ``ComfyExtension.get_node_list()``. We follow the same
path statically: the root module's mappings when it has them (so a module that the
pack no longer imports does not count), else the union of every scanned module's
mappings (ComfyUI core, where ``nodes.py`` and each ``comfy_extras`` file register
separately), plus the classes listed by every ``get_node_list``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterable

from wfrun.specs.spec import Signature

from .project import Project
from .static_eval import ClassInfo, FunctionRef, Instance, ModuleCtx
from .v1_nodes import v1_node
from .v3_nodes import install as install_v3
from .v3_nodes import is_v3_class, v3_node


@dataclass
class NodeState:
    """One node as registered in one snapshot; ``signature`` is None when its inputs
    could not be evaluated there (the history then keeps the previous one)."""

    class_type: str
    signature: Signature | None
    display_name: str | None = None
    category: str | None = None
    deprecated: bool = False
    source_path: str | None = None


@dataclass
class Snapshot:
    nodes: dict[str, NodeState] = field(default_factory=dict)
    #: Paths whose code was read; a later change to any other file cannot matter.
    used_paths: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def match_paths(paths: Iterable[str], patterns: list[str] | None) -> list[str]:
    """Python files matching any glob (``*`` also crosses ``/``); default: all of them."""
    py = [p for p in paths if p.endswith(".py")]
    if not patterns:
        return sorted(py)
    return sorted(p for p in py if any(fnmatch.fnmatchcase(p, pat) for pat in patterns))


def extract_snapshot(project: Project, scan: list[str]) -> Snapshot:
    """All nodes registered by the files ``scan`` (paths) of ``project``."""
    interp = project.interp
    install_v3(interp)
    snap = Snapshot()

    def lookup(mod: ModuleCtx, name: str) -> Any:
        if mod.scope is None or name not in mod.scope.vars:
            return None
        return interp.lookup(name, mod.scope)

    classes: dict[str, ClassInfo] = {}
    display: dict[str, str] = {}
    root = project.resolve_module(project.root_module) if project.root_module else None
    root_map = lookup(root, "NODE_CLASS_MAPPINGS") if root is not None else None
    dynamic = _dynamically_imported(project, scan) if root is not None else []
    if isinstance(root_map, dict) and root_map:
        # A root that imports the modules of a folder by computed names (comfyui_controlnet_aux
        # iterates ``node_wrappers/`` and calls ``importlib.import_module``) cannot be followed
        # statically: the mappings of that folder's modules count, then the root's on top.
        sources: list[ModuleCtx] = [*dynamic, root]
    else:
        sources = []
        for path in scan:
            if "NODE_CLASS_MAPPINGS" in project.text(path):
                mod = project.module_for_path(path)
                if mod is not None:
                    sources.append(mod)
    for mod in sources:
        cmap = lookup(mod, "NODE_CLASS_MAPPINGS")
        dmap = lookup(mod, "NODE_DISPLAY_NAME_MAPPINGS")
        if isinstance(cmap, dict):
            for k, v in cmap.items():
                if isinstance(k, str) and isinstance(v, ClassInfo):
                    classes[k] = v
                elif isinstance(k, str):
                    snap.problems.append(f"{k}: mapped to something that is not a class ({mod.path})")
        if isinstance(dmap, dict):
            display.update({k: v for k, v in dmap.items() if isinstance(k, str) and isinstance(v, str)})

    # V3 extensions: comfy_entrypoint() -> ComfyExtension.get_node_list()
    v3_listed: list[ClassInfo] = []
    for path in scan:
        text = project.text(path)
        if "get_node_list" not in text:
            continue
        mod = project.module_for_path(path)
        if mod is None or mod.scope is None:
            continue
        for value in list(mod.scope.vars.values()):
            if not isinstance(value, ClassInfo) or value.module is not mod:
                continue
            fn = value.attrs().get("get_node_list")
            if not isinstance(fn, FunctionRef):
                continue
            listed = interp.call_guarded(fn, [Instance(value)])
            if isinstance(listed, (list, tuple)):
                v3_listed.extend(c for c in listed if isinstance(c, ClassInfo))

    for class_type, cls in classes.items():
        state = _node_state(project, cls, class_type, display.get(class_type))
        if state is not None:
            snap.nodes[class_type] = state
    for cls in v3_listed:
        state = _node_state(project, cls, None, None)
        if state is not None and state.class_type not in snap.nodes:
            snap.nodes[state.class_type] = state
    snap.used_paths = set(project.used)
    return snap


def _dynamically_imported(project: Project, scan: list[str]) -> list[ModuleCtx]:
    """The modules a root ``__init__.py`` imports by computed names: those, among the scanned
    files that register nodes, in a folder the root names as a string literal (``"node_wrappers"``)
    when it calls ``importlib.import_module`` or ``__import__``."""
    text = project.text("__init__.py")
    if "import_module(" not in text and "__import__(" not in text:
        return []
    found = []
    for path in scan:
        folder = path.split("/")[0]
        if "/" not in path or (f'"{folder}"' not in text and f"'{folder}'" not in text):
            continue
        if "NODE_CLASS_MAPPINGS" in project.text(path):
            mod = project.module_for_path(path)
            if mod is not None:
                found.append(mod)
    return found


def _node_state(project: Project, cls: ClassInfo, class_type: str | None, display_name: str | None) -> NodeState | None:
    interp = project.interp
    try:
        if is_v3_class(cls):
            node_id, sig, meta = v3_node(interp, cls)
            class_type = class_type or node_id
            if class_type is None:
                return None
            return NodeState(class_type, sig, display_name or meta.get("display_name"), meta.get("category"),
                             bool(meta.get("deprecated")), cls.module.path)
        if class_type is None:
            return None
        sig, meta = v1_node(interp, cls)
        return NodeState(class_type, sig, display_name, meta.get("category"), bool(meta.get("deprecated")),
                         cls.module.path)
    except RecursionError:
        return NodeState(class_type, None) if class_type else None
