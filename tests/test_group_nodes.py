"""Group nodes of ComfyUI's first frontend (``workflow>Name`` + ``extra.groupNodes``) are run
as their inner nodes, ids ``<group>:<index>``, as the frontend's group node definition maps
them (groupNode.js): widgets are the inner nodes' lists one after another, sockets are the
inner sockets no inner link feeds, outputs are the inner outputs no inner link alone reads."""

from __future__ import annotations

import copy

from wfrun.formats.document import from_data
from wfrun.graph import CheckOptions, build, check
from wfrun.graph.model import LinkRef


def _inner(type_: str, inputs: list, outputs: list, widgets: list, title: str | None = None) -> dict:
    return {"id": -1, "type": type_, "pos": [0, 0], "size": [200, 80], "flags": {}, "mode": 0,
            "inputs": inputs, "outputs": outputs, "properties": {}, "widgets_values": widgets,
            **({"title": title} if title else {})}


def workflow() -> dict:
    """EmptyImage (1) -> group 9 [ImageFlip (0) -> ImageRotate (1)] -> PreviewImage (3)."""
    group = {"nodes": [
        _inner("ImageFlip", [{"name": "image", "type": "IMAGE", "link": None}],
               [{"name": "IMAGE", "type": "IMAGE", "links": []}], ["x-axis: vertically"]),
        _inner("ImageRotate", [{"name": "image", "type": "IMAGE", "link": None}],
               [{"name": "IMAGE", "type": "IMAGE", "links": []}], ["none"], title="Turn")],
        "links": [[0, 0, 1, 0, 11, "IMAGE"]], "external": [[1, 0, "IMAGE"]]}
    return {"last_node_id": 9, "last_link_id": 2, "version": 0.4, "extra": {"groupNodes": {"Twist": group}},
            "nodes": [
                {"id": 1, "type": "EmptyImage", "pos": [0, 0], "size": [200, 100], "mode": 0, "inputs": [],
                 "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], "widgets_values": [8, 6, 1, 0]},
                {"id": 9, "type": "workflow>Twist", "pos": [0, 0], "size": [200, 100], "mode": 0,
                 "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
                 "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
                 "widgets_values": ["y-axis: horizontally", "90 degrees"]},
                {"id": 3, "type": "PreviewImage", "pos": [0, 0], "size": [200, 100], "mode": 0,
                 "inputs": [{"name": "images", "type": "IMAGE", "link": 2}], "outputs": []}],
            "links": [[1, 1, 0, 9, 0, "IMAGE"], [2, 9, 0, 3, 0, "IMAGE"]]}


def test_a_group_node_runs_as_its_inner_nodes():
    data = workflow()
    before = copy.deepcopy(data)
    doc = from_data(data, "g.json")
    graph = build(doc)
    assert sorted(graph.graph.nodes) == ["1", "3", "9:0", "9:1"]
    flip, turn, preview = graph.node("9:0"), graph.node("9:1"), graph.node("3")
    assert flip.inputs["flip_method"] == "y-axis: horizontally" and turn.inputs["rotation"] == "90 degrees"
    assert flip.inputs["image"] == LinkRef("1", 0, "IMAGE")
    assert turn.inputs["image"] == LinkRef("9:0", 0, "IMAGE") and turn.title == "Turn"
    assert preview.inputs["images"] == LinkRef("9:1", 0, "IMAGE")
    assert not [d for d in check(graph, CheckOptions()) if d.severity.name == "ERROR"]
    assert data == before and [n.type for n in doc.ui.nodes] == ["EmptyImage", "workflow>Twist", "PreviewImage"]


def test_a_group_node_of_another_shape_is_left_and_named():
    data = workflow()
    data["nodes"][1]["widgets_values"].append("extra")  # three values for two inner widgets
    graph = build(from_data(data, "g.json"))
    assert "9" in graph.graph.nodes and "9:0" not in graph.graph.nodes
    [diag] = [d for d in check(graph, CheckOptions()) if d.code == "unknown-node"]
    assert "earlier frontend" in diag.message


def test_a_muted_group_node_mutes_its_inner_nodes():
    data = workflow()
    data["nodes"][1]["mode"] = 2
    graph = build(from_data(data, "g.json"))
    assert "9:0" not in graph.graph.nodes and "9:1" not in graph.graph.nodes


def test_a_group_named_many_times_is_not_expanded_beyond_the_node_limit(monkeypatch):
    """A small file can name one large group many times: nothing is expanded where the inner
    nodes together would pass the file limit; the group nodes stay, named as not expanded."""
    import importlib

    build_module = importlib.import_module("wfrun.graph.build")

    data = workflow()
    group_node = data["nodes"][1]
    data["nodes"][1:2] = [dict(copy.deepcopy(group_node), id=10 + i, inputs=[dict(group_node["inputs"][0], link=None)],
                               outputs=[dict(group_node["outputs"][0], links=[])]) for i in range(4)]
    data["links"] = []
    assert len(build(from_data(copy.deepcopy(data), "g.json")).graph.nodes) == 3 + 4 * 2 - 1  # within the limit
    monkeypatch.setattr(build_module, "MAX_FILE_NODES", 8)  # 6 nodes in the file, 10 after expanding
    graph = build(from_data(data, "g.json"))
    assert {"10", "11", "12", "13"} <= set(graph.graph.nodes) and not any(":" in n for n in graph.graph.nodes)
