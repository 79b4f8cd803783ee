"""Executors take their defaults from the spec, never repeat them (one place for one fact).

The engine fills a widget input the workflow does not set from the spec
(:meth:`NodeSpec.widget_defaults`: the saved signature's default, then the newest
signature's for inputs the saved one lacks), so an executor needs no default of its own for
such an input, and one it kept would be a second copy of the fact that could drift.

So for every registered executor:

- a parameter whose input has a default in the node's newest signature, as a widget, has
  no Python default (the value always arrives from the workflow or the spec);
- every widget input with a default is accepted, by name or through ``**kwargs``, since the
  engine passes it even where the workflow never mentions it.

``None`` defaults stay for what the spec leaves without a default (an optional link such as
``image_embeds``, a widget some signatures lack), where ``None`` means "absent". Sockets
(links and ``forceInput`` widgets) keep the pack's own Python default where they have one:
neither ComfyUI nor the engine ever applies a spec default to an unlinked socket.
"""

from __future__ import annotations

import inspect

import pytest

from node_helpers import spec_defaults
from wfrun.engine.executors import get_executor, supported_types
from wfrun.engine.run import _with_defaults
from wfrun.graph.model import NodeInstance
from wfrun.nodes.executor import ExecContext


def parameters(class_type: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(get_executor(class_type)).parameters)


def takes_any_keyword(params: dict[str, inspect.Parameter]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in params.values())


@pytest.mark.parametrize("class_type", supported_types())
def test_no_executor_repeats_a_spec_default(class_type, registry):
    spec = registry.get(class_type)
    assert spec is not None, f"{class_type} has an executor but no spec"
    defaults = spec.widget_defaults()
    repeated = [f"{name}={p.default!r} (spec {defaults[name]!r})" for name, p in parameters(class_type).items()
                if name in defaults and p.default is not inspect.Parameter.empty]
    assert not repeated, f"{class_type} repeats spec defaults: " + ", ".join(repeated)


@pytest.mark.parametrize("class_type", supported_types())
def test_every_spec_default_is_accepted(class_type, registry):
    params = parameters(class_type)
    if takes_any_keyword(params):
        return
    unknown = sorted(set(registry.get(class_type).widget_defaults()) - set(params))
    assert not unknown, f"{class_type} does not accept the spec defaults the engine passes: {unknown}"


def test_the_rule_is_not_vacuous(registry):
    """If the spec lookup broke, both tests above would pass with nothing to compare."""
    checked = sum(name in parameters(ct) for ct in supported_types() for name in registry.get(ct).widget_defaults())
    assert checked >= 100


def test_widget_defaults_are_the_saved_signatures_then_the_newest(registry):
    """An older save runs the inputs added later at their newest default; the inputs it has
    keep the default of its own signature."""
    spec = registry.get("WanVideoSampler")
    oldest, newest = spec.signatures[0], spec.latest
    filled = spec.widget_defaults(oldest)
    for item in oldest.widgets:
        if item.default is not None:
            assert filled[item.name] == item.default
    for item in newest.widgets:
        if item.default is not None and (oldest.input(item.name) is None or oldest.input(item.name).default is None):
            assert filled[item.name] == item.default
    later = {i.name for i in newest.widgets if i.default is not None} - {i.name for i in oldest.inputs}
    assert later, "the sampler's first signature should lack some of its newest inputs"
    assert spec.widget_defaults() == spec.widget_defaults(newest)


def test_the_engine_and_the_test_helper_fill_the_same_defaults(registry):
    """One copy of the logic: the engine's fill is the spec's, and so is the tests'."""
    spec = registry.get("WanVideoSampler")
    instance = NodeInstance(id="1", class_type=spec.class_type, spec=spec, signature=spec.signatures[0],
                            inputs={"steps": 3})
    assert _with_defaults(instance) == {**spec.widget_defaults(spec.signatures[0]), "steps": 3}
    latest = NodeInstance(id="2", class_type=spec.class_type, spec=spec, signature=spec.latest)
    assert _with_defaults(latest) == spec_defaults(spec.class_type)


def test_a_direct_call_without_the_spec_defaults_fails_loudly():
    """Without the spec's values an executor does not run on a guess of its own."""
    with pytest.raises(TypeError, match="steps"):
        get_executor("WanVideoSampler")(ExecContext(), model=None, image_embeds=None)
