"""Calling one executor directly, the way the engine calls it.

Executors keep no defaults of their own (one place for one fact: the spec); the engine fills
a widget input the workflow does not set from :meth:`NodeSpec.widget_defaults`. A test that
calls an executor with a few inputs gets the rest the same way through :func:`node`.
"""

from __future__ import annotations

from typing import Any, Callable

from wfrun.engine.executors import get_executor
from wfrun.specs.registry import default_registry


def spec_defaults(class_type: str) -> dict[str, Any]:
    """The widget defaults the engine fills for ``class_type`` (newest signature); each a
    list of one for a node that takes its inputs as lists (``INPUT_IS_LIST``), as the
    engine hands them (``wfrun.engine.lists``)."""
    spec = default_registry().get(class_type)
    assert spec is not None, f"no spec for {class_type}"
    defaults = spec.widget_defaults()
    if spec.latest.input_is_list:
        return {name: [value] for name, value in defaults.items()}
    return defaults


def node(class_type: str) -> Callable[..., tuple]:
    """``class_type``'s executor, called as ``node(X)(ctx, **inputs)`` with the spec's
    defaults under the given inputs (a node that takes lists gets lists: pass lists)."""
    fn = get_executor(class_type)
    assert fn is not None, f"no executor for {class_type}"
    defaults = spec_defaults(class_type)

    def call(ctx: Any, **inputs: Any) -> tuple:
        return fn(ctx, **{**defaults, **inputs})

    return call
