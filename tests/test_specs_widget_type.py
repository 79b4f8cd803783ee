"""Inputs the frontend draws as widgets through a ``widgetType`` option.

StableLlama's basic_data_handling declares its comparison values as ``("FLOAT,INT",
{"widgetType": "FLOAT"})`` (``comparison_nodes.py`` since 2025-05-11): a socket type with no
widget of its own, drawn as a number widget, so UI files save a value for each. The spec
keeps the socket type (an INT or a FLOAT link fits) and records the widget type; the saved
values then bind by position to the signature of the file's time, and the node compares as
Python's ``>=`` does (the pack's ``value1 >= value2``).
"""

from __future__ import annotations

from wfrun.engine.plan import make_plan
from wfrun.engine.run import run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.graph.check import check
from wfrun.nodes.executor import ExecContext
from wfrun.specs.extract.v1_nodes import input_spec
from wfrun.specs.registry import default_registry
from wfrun.specs.spec import InputSpec

GTE = "Basic data handling: GreaterThanOrEqual"


def test_the_extractor_keeps_the_widget_type_beside_the_socket_type():
    spec = input_spec("value1", "required", ("FLOAT,INT", {"widgetType": "FLOAT"}))
    assert (spec.type, spec.widget_type, spec.is_widget) == ("FLOAT,INT", "FLOAT", True)
    assert not input_spec("value1", "required", ("FLOAT,INT", {})).is_widget
    assert input_spec("n", "required", ("INT", {"widgetType": "STRING"})).widget_type is None  # a widget already
    assert not InputSpec(name="x", section="required", type="FLOAT,INT", widget_type="FLOAT",
                         force_input=True).is_widget


def test_the_comparisons_signature_since_2025_05_11_has_two_number_widgets():
    latest = default_registry().get(GTE).signatures[-1]
    assert latest.date >= "2025-05-11"
    assert [(i.name, i.type, i.widget_type) for i in latest.widgets] == [("value1", "FLOAT,INT", "FLOAT"),
                                                                         ("value2", "FLOAT,INT", "FLOAT")]


def ui_file(value2: float) -> dict:
    """A PrimitiveInt (5) into value1 of a ``>=`` saved at 0.6.0 with widgets [0, value2]
    (value1's widget stays saved while linked), as the VACE clip joiner of set 4 has them."""
    return {
        "version": 0.4,
        "nodes": [
            {"id": 1, "type": "PrimitiveInt", "mode": 0, "inputs": [],
             "outputs": [{"name": "INT", "type": "INT", "links": [1]}], "widgets_values": [5, "fixed"]},
            {"id": 2, "type": GTE, "mode": 0,
             "inputs": [{"name": "value1", "type": "FLOAT,INT", "widget": {"name": "value1"}, "link": 1}],
             "outputs": [{"name": "result", "type": "BOOLEAN", "links": []}],
             "properties": {"cnr_id": "basic_data_handling", "ver": "0.6.0"}, "widgets_values": [0, value2]},
        ],
        "links": [[1, 1, 0, 2, 0, "INT"]],
    }


def test_saved_widget_values_bind_to_the_number_inputs_and_compare_as_python():
    for value2 in (3, 5, 7.5):
        graph = build(from_data(ui_file(value2), "cmp.json"))
        node = graph.node("2")
        assert node.inputs["value2"] == value2
        errors = [d for d in check(graph) if d.severity.name == "ERROR"]
        assert not errors, errors
        result = run_plan(graph, make_plan(graph, ["2"]), ExecContext())
        assert result.outputs["2"] == (5 >= value2,)
