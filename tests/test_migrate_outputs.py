"""A migrated node's outputs, and the links leaving them, follow the newest signature; a
replaced node's links never become two links into one socket; a file's frontend era
decides the layout of ``forceInput`` widgets."""

from __future__ import annotations

import copy
import json

import pytest

from conftest import CORPUS
from wfrun.formats.document import dumps, from_data, load
from wfrun.jobs.validate import validate_text
from wfrun.migrate import migrate_document
from wfrun.migrate.scope import LinkView, scopes
from wfrun.specs.registry import default_registry

WRAPPER = "ComfyUI-WanVideoWrapper"
#: The wrapper commit of 2025-02-25 whose CLIP loader returned WANCLIP.
OLD_VER = "44c5944f7031949440315038e94ca3f46e80adb2"


def _loader(saved_type: str) -> dict:
    return {"id": 1, "type": "LoadWanVideoClipTextEncoder", "pos": [0, 0], "size": [300, 100], "flags": {},
            "order": 0, "mode": 0, "inputs": [],
            "outputs": [{"name": "wan_clip_vision", "type": saved_type, "links": [1], "slot_index": 0}],
            "properties": {"cnr_id": "ComfyUI-WanVideoWrapper", "ver": OLD_VER},
            "widgets_values": ["open-clip-xlm-roberta-large-vit-huge-14_visual_fp16.safetensors", "fp16",
                               "offload_device"]}


def _reroute(saved_type: str) -> dict:
    return {"id": 3, "type": "Reroute", "pos": [100, 0], "size": [75, 26], "flags": {}, "order": 1, "mode": 0,
            "inputs": [{"name": "", "type": "*", "link": 1}],
            "outputs": [{"name": "", "type": saved_type, "links": [2], "slot_index": 0}],
            "properties": {"showOutputText": False, "horizontal": False}}


def _encoder(saved_type: str) -> dict:
    return {"id": 2, "type": "WanVideoClipVisionEncode", "pos": [300, 0], "size": [300, 200], "flags": {},
            "order": 2, "mode": 0,
            "inputs": [{"name": "clip_vision", "type": saved_type, "link": 2},
                       {"name": "image_1", "type": "IMAGE", "link": None}],
            "outputs": [{"name": "image_embeds", "type": "WANVIDIMAGE_CLIPEMBEDS", "links": [], "slot_index": 0}],
            "properties": {"cnr_id": "ComfyUI-WanVideoWrapper"},
            "widgets_values": [1, 1, "center", "average", True, 0, 0.5]}


def _ui(saved_type: str, object_links: bool) -> dict:
    links = [[1, 1, 0, 3, 0, saved_type], [2, 3, 0, 2, 0, saved_type]]
    if object_links:
        links = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), raw))
                 for raw in links]
    data = {"last_node_id": 3, "last_link_id": 2, "nodes": [_loader(saved_type), _reroute(saved_type), _encoder(saved_type)],
            "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4}
    if object_links:
        data["version"] = 1
        data["state"] = {"lastNodeId": 3, "lastLinkId": 2}
    return data


def _in_subgraph(data: dict) -> dict:
    """The same graph inside a subgraph definition (links as objects there)."""
    inner = _ui(data["links"][0][5] if isinstance(data["links"][0], list) else data["links"][0]["type"], True)
    sub = {"id": "5d1c4a2e-0000-4000-8000-000000000001", "version": 1, "state": {"lastNodeId": 3, "lastLinkId": 2},
           "revision": 0, "config": {}, "name": "clip", "inputNode": {"id": -10, "bounding": [0, 0, 10, 10]},
           "outputNode": {"id": -20, "bounding": [0, 0, 10, 10]}, "inputs": [], "outputs": [], "widgets": [],
           "nodes": inner["nodes"], "links": inner["links"], "groups": [], "extra": {}}
    return {"id": "00000000-0000-4000-8000-000000000000", "revision": 0, "last_node_id": 9, "last_link_id": 2,
            "nodes": [{"id": 9, "type": sub["id"], "pos": [0, 0], "size": [200, 100], "flags": {}, "order": 0,
                       "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": []}],
            "links": [], "groups": [], "definitions": {"subgraphs": [sub]}, "config": {}, "extra": {},
            "version": 0.4}


def _graph(data: dict) -> dict:
    return data["definitions"]["subgraphs"][0] if "definitions" in data else data


def _type_errors(document) -> list:
    return [d for d in validate_text(dumps(document), "t.json").diagnostics if d.code == "type-mismatch"]


@pytest.mark.parametrize("layout", ["0.4 arrays", "1.x objects", "subgraph"])
@pytest.mark.parametrize("saved_type", ["WANCLIP", "CLIP_VISION"])
def test_outputs_and_links_follow_the_newest_signature(layout, saved_type):
    data = _ui(saved_type, layout != "0.4 arrays")
    if layout == "subgraph":
        data = _in_subgraph(data)
    document = from_data(copy.deepcopy(data), "t.json")
    # the saved output type, where a signature of the node gives it, is read as saved
    # (graph.build._output_types); a stale WANCLIP save is a mismatch until migrated
    assert bool(_type_errors(document)) == (saved_type == "WANCLIP")
    result = migrate_document(document)
    assert result.changed
    graph = _graph(result.document.dump())
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[1]["outputs"][0]["type"] == "CLIP_VISION"
    assert nodes[1]["properties"]["ver"] == default_registry().packs[WRAPPER].source["last_commit"]
    assert nodes[3]["outputs"][0]["type"] == "CLIP_VISION"  # the reroute passes the type on
    assert nodes[2]["inputs"][0]["type"] == "CLIP_VISION"
    assert {LinkView(raw).type for raw in graph["links"]} == {"CLIP_VISION"}
    assert not _type_errors(result.document)
    assert not migrate_document(result.document).changed
    report = next(n for n in result.nodes if n.id == 1)
    assert any(c.what == "retyped" for c in report.changes)


def test_a_node_read_with_its_newest_outputs_is_left_alone():
    data = _ui("CLIP_VISION", False)
    data["nodes"][0]["properties"]["ver"] = default_registry().packs[WRAPPER].source["last_commit"]
    data["nodes"][1]["outputs"][0]["type"] = "CLIP_VISION"
    data["nodes"][2]["inputs"][0]["type"] = "CLIP_VISION"
    assert not migrate_document(from_data(data, "t.json")).changed


def test_a_replaced_node_never_gets_two_links_into_one_socket():
    """Realworld 012 and 018: Anything Everywhere left links the ImageClip Encode's socket did
    not hold; the split node's socket must not be fed by several of them."""
    path = CORPUS / "realworld" / "012_Hearmeman24_hm-wrapper-i2v-upscale.json"
    document = load(path)
    result = migrate_document(document)
    report = next(n for n in result.nodes if n.class_type == "WanVideoImageClipEncode")
    data = result.document.dump()
    held = {}
    for node in data["nodes"]:
        for slot, item in enumerate(node.get("inputs") or []):
            if item.get("link") is not None:
                held[(str(node["id"]), slot)] = item["link"]
    fed = {}
    for raw in data["links"]:
        link = LinkView(raw)
        key = (str(link.target_id), link.target_slot)
        if key in held:
            fed.setdefault(key, []).append(link.id)
    assert all(len(ids) == 1 for ids in fed.values()), {k: v for k, v in fed.items() if len(v) > 1}
    before = [d for d in validate_text(dumps(document), str(path)).diagnostics if d.code == "duplicate-link"]
    after = [d for d in validate_text(dumps(result.document), str(path)).diagnostics if d.code == "duplicate-link"]
    assert len(after) <= len(before)
    assert report.replaced_by


SKYREELS = sorted((CORPUS / "wanvideowrapper").glob("*_wanvideo_skyreels_a2_example_01.json"))


def test_the_authors_skyreels_a2_resaves_agree_on_image_pad_after_migration():
    """KJNodes' ImagePadKJ got target_width/target_height on 2025-04-05 (widgets, 9 values),
    made them forceInput the next day; one re-save of that day holds the 7 values of the
    signature before. The file's other nodes show a frontend that saves forceInput values,
    so all re-saves migrate to the same 9-value layout with the values the author saved."""
    assert len(SKYREELS) == 5
    layouts = {}
    for path in SKYREELS:
        result = migrate_document(load(path))
        nodes = {n["id"]: n for n in result.document.dump()["nodes"] if n["type"] == "ImagePadKJ"}
        layouts[path.name] = {nid: (len(n["widgets_values"]), n["widgets_values"][-2:]) for nid, n in nodes.items()}
        assert not migrate_document(result.document).changed
    assert len({json.dumps(v, sort_keys=True) for v in layouts.values()}) == 1, layouts


def test_a_node_saved_by_a_newer_pack_version_keeps_its_version():
    """Realworld 029: WanVideo Torch Compile Settings saved by release 1.3.9 (nine values,
    more than any signature wfrun knows) is read with an old signature; recording the
    newest known commit would not change that, and would lose what the file says."""
    path = CORPUS / "realworld" / "029_jalberty2018_jalb-wrapper-i2v-moe.json"
    result = migrate_document(load(path))
    nodes = {n["id"]: n for n in result.document.dump()["nodes"]}
    assert nodes[116]["properties"]["ver"] == "1.3.9"
    assert not any(n.id == 116 and n.changed for n in result.nodes)
