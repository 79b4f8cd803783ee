"""Finding a node's executor: every pack is imported once (each registers its executors with
``wfrun.nodes.executor``'s decorator), then looked up by ``class_type``. Likewise the checks
each pack registers in its ``checks`` module (``wfrun.nodes.checks``), for the job layer to
pass to ``wfrun.graph.check``.

This lives in the engine, above the packs, so the executor API in ``wfrun.nodes`` never
imports a pack.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any, Iterator

from wfrun.graph.check import PackChecks
from wfrun.graph.model import NodeInstance, WorkflowGraph
from wfrun.nodes.checks import registered_graph_checks, registered_value_checks
from wfrun.nodes.executor import (ExecutorFn, ExecutorInfo, registered, registered_info, registered_pack_types,
                                  registered_types)
from wfrun.specs.registry import default_registry
from wfrun.specs.spec import NodeSpec

if TYPE_CHECKING:  # the plan module imports this one (through engine.lazy)
    from wfrun.engine.plan import Plan


@cache
def load_packs() -> None:
    """Import every module under ``wfrun.packs``; registration happens at import."""
    import wfrun.packs as packs

    for module in pkgutil.walk_packages(packs.__path__, packs.__name__ + "."):
        importlib.import_module(module.name)


@cache
def load_checks() -> None:
    """Import each pack's ``checks`` module only (not its executors, nor torch through them):
    ``wfrun validate`` needs the rules, not the runners."""
    import wfrun.packs as packs

    for pack in pkgutil.iter_modules(packs.__path__, packs.__name__ + "."):
        if pack.ispkg and importlib.util.find_spec(f"{pack.name}.checks") is not None:
            importlib.import_module(f"{pack.name}.checks")


def pack_checks() -> PackChecks:
    """The checks every pack registers, in registration order, for ``check(pack_checks=...)``."""
    load_checks()
    return PackChecks(graph=registered_graph_checks(), values=registered_value_checks())


def get_executor(class_type: str, spec: NodeSpec | None = None) -> ExecutorFn | None:
    info = executor_info(class_type, spec)
    return info.fn if info is not None else None


def executor_info(class_type: str, spec: NodeSpec | None = None) -> ExecutorInfo | None:
    """The executor of ``class_type`` with its metadata (volatile, oom_hint, input_files).

    ``spec``: the spec the node was read with. Where two packs name a node the same, each
    pack's node runs its own executor; the one registered by name alone serves only the
    registry's default pack (``Registry.is_default``)."""
    load_packs()
    if spec is None:
        return registered_info(class_type)
    return registered_info(class_type, spec.pack, default_registry().is_default(spec))


def planned_input_files(graph: WorkflowGraph, plan: Plan) -> Iterator[tuple[NodeInstance, str, Any, str]]:
    """Each file a planned loader will read, as its executor declares it (``input_files``):
    (node, input name, the name the input holds, what it is: image, video, image_folder, ...),
    in plan order. The name is whatever the input holds (a link's value is not known yet)."""
    for node_id in plan.order:
        node = graph.node(node_id)
        info = executor_info(node.class_type, node.spec)
        declared = info.input_files if info is not None else None
        for input_name, (name, what) in (declared(node.inputs) if declared else {}).items():
            yield node, input_name, name, what


def pack_executor_types() -> list[tuple[str, str]]:
    """(pack, class_type) of the executors of one pack's namesake node."""
    load_packs()
    return registered_pack_types()


def supported_types() -> list[str]:
    load_packs()
    return registered_types()
