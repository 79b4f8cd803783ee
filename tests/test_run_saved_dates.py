"""A node migrated in memory keeps the date of the layout it was saved with, for the
executors that follow that version, inside subgraphs as at the top level."""

from __future__ import annotations

import copy

from wfrun.formats.document import from_data
from wfrun.jobs.run import _definition_of, _migrate
from wfrun.specs.registry import default_registry

SG = "5d1f0c4e-0000-4000-8000-000000000001"
#: WanVideoImageToVideoEncode as saved with the wrapper's 2025-05 layout (9 values; the newest
#: has more), unconnected: migration reads widgets only.
OLD_ENCODE = {"id": 7, "type": "WanVideoImageToVideoEncode", "pos": [0, 0], "size": [300, 200], "mode": 0,
              "flags": {}, "order": 0, "inputs": [], "outputs": [],
              "properties": {"cnr_id": "ComfyUI-WanVideoWrapper", "ver": "5a2383621a05825d0d0437781afcb8552d9590fd"},
              "widgets_values": [832, 480, 81, 0, 1, 1, True, False, False]}


def workflow(top: list, inner: list) -> dict:
    return {"version": 0.4, "last_node_id": 20, "last_link_id": 0, "links": [], "nodes": top,
            "definitions": {"subgraphs": [{"id": SG, "name": "inner", "inputs": [], "outputs": [],
                                           "nodes": inner, "links": []}]}}


def instance(node_id: int) -> dict:
    return {"id": node_id, "type": SG, "pos": [0, 0], "size": [100, 50], "mode": 0, "flags": {}, "order": 0,
            "inputs": [], "outputs": [], "properties": {}, "widgets_values": []}


def test_a_migrated_node_inside_a_subgraph_keeps_its_saved_date():
    registry = default_registry()
    top_doc = from_data(workflow([copy.deepcopy(OLD_ENCODE)], []), "top.json")
    nested = from_data(workflow([instance(12)], [copy.deepcopy(OLD_ENCODE)]), "nested.json")
    _, _, top_dates = _migrate(top_doc, registry)
    _, _, nested_dates = _migrate(nested, registry)
    saved = top_dates[("", "7")]
    newest = registry.get("WanVideoImageToVideoEncode").latest.date
    assert saved < newest  # an older layout, migrated
    assert nested_dates == {(SG, "7"): saved}
    # the expanded graph's node 12:7 is node 7 of that definition
    assert _definition_of(nested, ("12", "7")) == SG and _definition_of(nested, ("7",)) == ""
    assert _definition_of(nested, ("99", "7")) is None  # no such instance
