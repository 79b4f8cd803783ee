"""Damaged real workflows give diagnostics, never a traceback (property-based)."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ui_corpus_files
from wfrun.diagnostics import Diagnostic
from wfrun.jobs.validate import validate_text

FILES = ui_corpus_files()
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                 st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=7), st.just({}))


def _drop_link(doc, draw):
    if doc["links"]:
        del doc["links"][draw(st.integers(0, len(doc["links"]) - 1))]


def _rewire_link(doc, draw):
    if doc["links"]:
        link = doc["links"][draw(st.integers(0, len(doc["links"]) - 1))]
        link[draw(st.integers(1, 4))] = draw(st.integers(-20, 400))


def _change_link_type(doc, draw):
    if doc["links"]:
        doc["links"][draw(st.integers(0, len(doc["links"]) - 1))][5] = draw(
            st.sampled_from(["IMAGE", "LATENT", "INT", "*", "WANVIDEOMODEL", "BOGUS"]))


def _corrupt_widget(doc, draw):
    nodes = [n for n in doc["nodes"] if isinstance(n.get("widgets_values"), list) and n["widgets_values"]]
    if nodes:
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        node["widgets_values"][draw(st.integers(0, len(node["widgets_values"]) - 1))] = draw(JUNK)


def _truncate_widgets(doc, draw):
    nodes = [n for n in doc["nodes"] if isinstance(n.get("widgets_values"), list)]
    if nodes:
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        node["widgets_values"] = node["widgets_values"][: draw(st.integers(0, 3))]


def _drop_node(doc, draw):
    if doc["nodes"]:
        del doc["nodes"][draw(st.integers(0, len(doc["nodes"]) - 1))]


def _set_mode(doc, draw):
    if doc["nodes"]:
        doc["nodes"][draw(st.integers(0, len(doc["nodes"]) - 1))]["mode"] = draw(st.sampled_from([0, 2, 4]))


def _retype_node(doc, draw):
    if doc["nodes"]:
        doc["nodes"][draw(st.integers(0, len(doc["nodes"]) - 1))]["type"] = draw(
            st.sampled_from(["Reroute", "PrimitiveNode", "GetNode", "SetNode", "Unknown",
                             "WanVideoSampler", "00000000-0000-0000-0000-000000000000"]))


def _cut_input(doc, draw):
    with_inputs = [n for n in doc["nodes"] if n.get("inputs")]
    if with_inputs:
        node = with_inputs[draw(st.integers(0, len(with_inputs) - 1))]
        node["inputs"][draw(st.integers(0, len(node["inputs"]) - 1))]["link"] = draw(
            st.one_of(st.none(), st.integers(-5, 500)))


MUTATIONS = [_drop_link, _rewire_link, _change_link_type, _corrupt_widget, _truncate_widgets,
             _drop_node, _set_mode, _retype_node, _cut_input]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_corpus_files_give_only_diagnostics(data):
    doc = copy.deepcopy(json.loads(data.draw(st.sampled_from(FILES)).read_text()))
    for mutation in data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        mutation(doc, data.draw)
    result = validate_text(json.dumps(doc), "mutated.json")
    assert all(isinstance(d, Diagnostic) for d in result.diagnostics)
    for diag in result.diagnostics:
        assert diag.text()  # every diagnostic renders


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_files_give_an_invalid_json_diagnostic(data):
    text = data.draw(st.sampled_from(FILES)).read_text()
    cut = data.draw(st.integers(1, len(text) - 2))
    result = validate_text(text[:cut], "cut.json")
    codes = {d.code for d in result.diagnostics}
    assert codes and codes <= {"invalid-json", "schema", "unknown-format"}


def test_unhashable_saved_values_do_not_crash_slot_matching():
    """Found by the mutation test above: a ``{}`` saved where a seed's control value goes."""
    from wfrun.graph.widgets import WidgetSlot, slot_fits
    from wfrun.specs.spec import InputSpec

    seed = InputSpec(name="seed", section="required", type="INT", default=0, control_after_generate=True)
    assert not slot_fits(WidgetSlot("control", seed), {})
    assert not slot_fits(WidgetSlot("control", seed), [1])
    assert slot_fits(WidgetSlot("control", seed), "randomize")
