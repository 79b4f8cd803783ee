"""Finding a node's executor: every pack is imported once (each registers its executors with
``wfrun.nodes.executor``'s decorator), then looked up by ``class_type``.

This lives in the engine, above the packs, so the executor API in ``wfrun.nodes`` never
imports a pack.
"""

from __future__ import annotations

from functools import cache

from wfrun.nodes.executor import ExecutorFn, registered, registered_types


@cache
def load_packs() -> None:
    """Import every module under ``wfrun.packs``; registration happens at import."""
    import importlib
    import pkgutil

    import wfrun.packs as packs

    for module in pkgutil.walk_packages(packs.__path__, packs.__name__ + "."):
        importlib.import_module(module.name)


def get_executor(class_type: str) -> ExecutorFn | None:
    load_packs()
    return registered(class_type)


def supported_types() -> list[str]:
    load_packs()
    return registered_types()
