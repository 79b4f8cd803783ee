"""A node whose ``widgets_values`` is a lone value instead of a list.

ComfyUI's frontend (``LGraphNode.configure``) indexes ``widgets_values`` while its index
is below ``widgets_values.length``; a number has neither, so no widget takes the value and
the widgets keep their defaults. wfrun must load such a file, ignore the value with a
warning, and still write the file back unchanged.
"""

from __future__ import annotations

import json

import pytest

from wfrun.diagnostics import Severity
from wfrun.formats import load_text
from wfrun.graph import build
from wfrun.specs.registry import default_registry


def crafted(widgets_values, class_type="ModelSamplingSD3") -> dict:
    return {
        "last_node_id": 2, "last_link_id": 1,
        "nodes": [
            {"id": 1, "type": "UNETLoader", "pos": [0, 0], "size": [300, 80], "mode": 0,
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}],
             "widgets_values": ["wan2.1_t2v_1.3B_fp16.safetensors", "default"]},
            {"id": 2, "type": class_type, "pos": [400, 0], "size": [300, 60], "mode": 0,
             "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": None}],
             "widgets_values": widgets_values, "color": "#232"},
        ],
        "links": [[1, 1, 0, 2, 0, "MODEL"]],
        "groups": [], "config": {}, "extra": {"ds": {"scale": 1, "offset": [0, 0]}}, "version": 0.4,
    }


@pytest.mark.parametrize("scalar", [5, 5.5, True, "8"])
def test_a_lone_value_loads_and_round_trips_unchanged(scalar):
    text = json.dumps(crafted(scalar))
    doc = load_text(text, "scalar.json")
    assert doc.dump() == json.loads(text)
    assert json.dumps(doc.dump()) == text
    assert doc.ui.nodes[1].widgets_values == scalar and type(doc.ui.nodes[1].widgets_values) is type(scalar)
    assert doc.ui.nodes[1].saved_widgets is None
    assert doc.ui.nodes[0].saved_widgets == ["wan2.1_t2v_1.3B_fp16.safetensors", "default"]


def test_a_lone_value_is_ignored_with_a_warning_and_the_default_is_used():
    doc = load_text(json.dumps(crafted(5)), "scalar.json")
    graph = build(doc, default_registry())
    sampling = graph.node("2")
    # the spec's default shift (3.0), not the lone 5: the frontend never applies it
    default = default_registry().get("ModelSamplingSD3").latest.input("shift").default
    assert default == 3.0
    assert "shift" not in sampling.inputs or sampling.inputs["shift"] == default
    warnings = [p for p in graph.problems if p.code == "scalar-widgets-values"]
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning.severity == Severity.WARNING
    assert (warning.node_id, warning.class_type, warning.found) == ("2", "ModelSamplingSD3", 5)
    assert not [p for p in graph.problems if p.severity == Severity.ERROR]


def test_a_list_is_still_bound_and_gives_no_warning():
    doc = load_text(json.dumps(crafted([5])), "list.json")
    graph = build(doc, default_registry())
    assert graph.node("2").inputs["shift"] == 5
    assert not [p for p in graph.problems if p.code == "scalar-widgets-values"]


def test_objects_and_nested_lists_are_still_refused():
    from wfrun.formats import FormatError
    with pytest.raises(FormatError):
        load_text(json.dumps(crafted(None) | {"nodes": [{"id": 1, "type": "X", "widgets_values": 5, "mode": "4"}]}))
