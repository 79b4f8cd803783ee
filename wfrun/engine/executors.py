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

from wfrun.graph.check import PackChecks
from wfrun.nodes.checks import registered_graph_checks, registered_value_checks
from wfrun.nodes.executor import ExecutorFn, ExecutorInfo, registered, registered_info, registered_types


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


def get_executor(class_type: str) -> ExecutorFn | None:
    load_packs()
    return registered(class_type)


def executor_info(class_type: str) -> ExecutorInfo | None:
    """The executor of ``class_type`` with its metadata (volatile, oom_hint, input_files)."""
    load_packs()
    return registered_info(class_type)


def supported_types() -> list[str]:
    load_packs()
    return registered_types()
