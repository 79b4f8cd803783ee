"""mxToolkit's sliders: the FLOAT widget when the float flag is set, else the INT one, and
the saved widgets of real files bound to those names."""

from __future__ import annotations

from node_helpers import node
from wfrun.formats.document import from_data
from wfrun.graph import build, check
from wfrun.nodes.executor import ExecContext

CTX = ExecContext()


def test_slider_picks_by_its_float_flag():
    assert node("mxSlider")(CTX, Xi=0, Xf=0.15, isfloatX=1) == (0.15,)
    assert node("mxSlider")(CTX, Xi=4, Xf=4.0, isfloatX=0) == (4,)
    assert node("mxSlider2D")(CTX, Xi=840, Xf=840, Yi=600, Yf=600.5, isfloatX=0, isfloatY=1) == (840, 600.5)


def test_saved_slider_widgets_bind_by_position():
    doc = {"last_node_id": 2, "last_link_id": 0, "version": 0.4, "links": [], "nodes": [
        {"id": 1, "type": "mxSlider", "pos": [0, 0], "size": [200, 30], "mode": 0, "inputs": [],
         "outputs": [{"name": "", "type": "*", "links": []}], "widgets_values": [0, 0.15, 1],
         "properties": {"value": 0.15, "decimals": 2}},
        {"id": 2, "type": "mxSlider2D", "pos": [0, 50], "size": [200, 200], "mode": 0, "inputs": [],
         "outputs": [{"name": "", "type": "*", "links": []}, {"name": "", "type": "*", "links": []}],
         "widgets_values": [840, 840, 600, 600, 0, 0]}]}
    graph = build(from_data(doc, "w.json"))
    assert graph.node("1").inputs == {"Xi": 0, "Xf": 0.15, "isfloatX": 1}
    assert graph.node("2").inputs["Yi"] == 600 and graph.node("2").inputs["isfloatY"] == 0
    assert not [d for d in check(graph) if d.code == "widget-mismatch"]
