"""Executors' keyword defaults are the spec's (one place for one fact).

The engine fills an input the workflow lacks from the spec of the signature it was saved
with, so an executor's own default is reached only for inputs that signature does not
have. A default repeated in Python must therefore say what the spec says, else the same
node behaves in two ways depending on how it was called. ``None`` is not a repeated value:
it marks "this input is absent" (older signatures without it), where the executor keeps
the behaviour those versions had.
"""

from __future__ import annotations

import inspect

import pytest

from wfrun.engine.executors import get_executor, supported_types


def keyword_defaults(fn) -> dict:
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("class_type", supported_types())
def test_executor_defaults_equal_the_latest_spec(class_type, registry):
    spec = registry.get(class_type)
    assert spec is not None, f"{class_type} has an executor but no spec"
    wrong = []
    for name, value in keyword_defaults(get_executor(class_type)).items():
        declared = spec.latest.input(name)
        if declared is None or declared.default is None or value is None:
            continue
        same = value == declared.default and isinstance(value, bool) == isinstance(declared.default, bool)
        if not same:
            wrong.append(f"{name}: executor {value!r}, spec {declared.default!r}")
    assert not wrong, f"{class_type}: " + "; ".join(wrong)


def test_the_check_sees_the_defaults_it_compares(registry):
    """Most executors repeat spec defaults today; if none were compared the test above
    would pass vacuously (say, if the spec lookup broke)."""
    compared = 0
    for class_type in supported_types():
        latest = registry.get(class_type).latest
        for name, value in keyword_defaults(get_executor(class_type)).items():
            declared = latest.input(name)
            compared += declared is not None and declared.default is not None and value is not None
    assert compared >= 100
