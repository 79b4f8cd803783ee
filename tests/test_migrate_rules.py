"""Rule files: schema, provenance, and what each kind of edit does to a document."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import CORPUS
from wfrun.formats.document import from_data, load
from wfrun.migrate import migrate_document
from wfrun.migrate.rules import load_rules, migrations_dir
from wfrun.migrate.scope import LinkView, scopes
from wfrun.specs.registry import default_registry, schemas_dir

RULE_FILES = sorted(migrations_dir().glob("*/*.yaml"))
WAN = CORPUS / "wanvideowrapper"


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_rule_file_is_valid_and_cites_a_real_pack_commit(path: Path):
    schema = json.loads((schemas_dir() / "migration.schema.json").read_text())
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    assert data["id"] == path.stem
    assert data["pack"] == path.parent.name
    registry = default_registry()
    pack = registry.packs[data["pack"]]
    dates = dict(tuple(c) for c in pack.source["commits"])
    assert dates.get(data["commit"]) == data["date"], "commit not in the pack's history, or wrong date"
    assert data["node"] in pack.nodes
    assert len(data["why"]) > 80


def test_rules_load_in_file_order():
    rules = load_rules()
    assert [r.id for r in rules] == [p.stem for p in RULE_FILES]


def test_rename_edits_name_inputs_that_existed_and_now_exist():
    registry = default_registry()
    for rule in load_rules():
        spec = registry.get(rule.node)
        for edit in rule.edits:
            if edit.op == "rename":
                assert any(sig.input(edit.old) for sig in spec.signatures), (rule.id, edit.old)
                assert spec.latest.input(edit.new) is not None, (rule.id, edit.new)


def _nodes_of(document, class_type):
    return [n for n in document.dump()["nodes"] if n["type"] == class_type]


def test_string_booleans_become_booleans_and_saved_false_stays_false():
    document = load(WAN / "2025-03-28_6334dfa_wanvideo_Fun_control_example_01.json")
    result = migrate_document(document)
    teacache = _nodes_of(result.document, "WanVideoTeaCache")[0]
    assert True in teacache["widgets_values"] and "true" not in teacache["widgets_values"]
    encode_before = _nodes_of(document, "WanVideoImageToVideoEncode")[0]["widgets_values"]
    encode_after = _nodes_of(result.document, "WanVideoImageToVideoEncode")[0]["widgets_values"]
    spec = default_registry().get("WanVideoImageToVideoEncode").latest
    names = [w.name for w in spec.widgets]
    # the Fun file saved fun_model=true (8th value); the renamed input keeps it
    assert encode_after[names.index("fun_or_fl2v_model")] is encode_before[7]


def test_saved_false_survives_the_rename_to_a_true_default():
    data = json.loads((WAN / "2025-03-28_6334dfa_wanvideo_480p_I2V_example_02.json").read_text())
    node = next(n for n in data["nodes"] if n["type"] == "WanVideoImageToVideoEncode")
    assert node["widgets_values"][7] is False
    result = migrate_document(from_data(data))
    after = _nodes_of(result.document, "WanVideoImageToVideoEncode")[0]["widgets_values"]
    names = [w.name for w in default_registry().get("WanVideoImageToVideoEncode").latest.widgets]
    assert after[names.index("fun_or_fl2v_model")] is False
    assert any("0007_imagetovideo_fun_model_renamed" in n.rules for n in result.nodes)


def test_boolean_in_a_strength_is_repaired_by_kind():
    document = load(WAN / "2025-03-20_5a23836_wanvideo_480p_I2V_endframe_example_01.json")
    result = migrate_document(document)
    after = _nodes_of(result.document, "WanVideoImageToVideoEncode")[0]["widgets_values"]
    spec = default_registry().get("WanVideoImageToVideoEncode").latest
    for slot, value in zip(spec.widgets, after):
        if slot.type == "FLOAT":
            assert not isinstance(value, bool), slot.name


def test_link_types_follow_the_retyped_output():
    document = load(WAN / "2025-06-13_ad43eed_wanvideo_1_3B_control_lora_example_01.json")
    assert "TEACACHEARGS" in json.dumps(document.dump()["links"])
    result = migrate_document(document)
    assert "TEACACHEARGS" not in json.dumps(result.document.dump())


def _assert_links_consistent(data):
    for scope in scopes(data):
        ids = [link.id for link in scope.links()]
        assert len(ids) == len(set(ids))
        for link in scope.links():
            origin, target = scope.node(link.origin_id), scope.node(link.target_id)
            assert origin is not None and target is not None, link.raw
            assert target["inputs"][link.target_slot]["link"] == link.id
            assert link.id in origin["outputs"][link.origin_slot]["links"]
        for node in scope.nodes:
            for item in node.get("inputs") or []:
                if item.get("link") is not None:
                    assert LinkView(scope.link(item["link"]).raw).target_id == node["id"]


def test_imageclipencode_is_split_and_rewired():
    document = load(WAN / "2025-03-07_f3d58dc_wanvideo_480p_I2V_example_02.json")
    before = document.dump()
    result = migrate_document(document)
    after = result.document.dump()
    assert not _nodes_of(result.document, "WanVideoImageClipEncode")
    report = next(n for n in result.nodes if n.replaced_by)
    new_ids = report.replaced_by
    assert min(new_ids) > max(n["id"] for n in before["nodes"])
    assert after["last_node_id"] >= max(new_ids)
    types = {n["id"]: n["type"] for n in after["nodes"]}
    assert [types[i] for i in new_ids] == ["WanVideoClipVisionEncode", "WanVideoImageToVideoEncode"]
    _assert_links_consistent(after)
    # the split nodes are wired to each other and the sampler reads the new encoder
    clip, encode = new_ids
    links = [LinkView(raw) for raw in after["links"]]
    assert any(l.origin_id == clip and l.target_id == encode for l in links)
    sampler = _nodes_of(result.document, "WanVideoSampler")[0]
    feeding = [l for l in links if l.target_id == sampler["id"] and l.origin_id == encode]
    assert feeding
    assert any(c.what == "dropped" and c.input == "adjust_resolution" for c in report.changes)


def test_replacement_links_survive_a_round_trip_on_every_file_with_the_old_node():
    for path in sorted(WAN.glob("*.json")):
        if path.name == "manifest.json" or '"WanVideoImageClipEncode"' not in path.read_text():
            continue
        result = migrate_document(load(path))
        _assert_links_consistent(result.document.dump())
        assert not migrate_document(result.document).changed


def test_api_prompts_are_returned_unchanged():
    prompt = {"1": {"class_type": "WanVideoTeaCache", "inputs": {"rel_l1_thresh": 0.3}}}
    document = from_data(copy.deepcopy(prompt))
    result = migrate_document(document)
    assert not result.changed and result.document.dump() == prompt


def test_values_the_newest_signature_cannot_place_keep_the_node_as_saved():
    """LoRA Manager's WanVideo Lora Select saved 2025-06-29 (low_mem_load, text, then the rows):
    its newest signature takes ``text`` and ``loras`` as the pack's own frontend widget types,
    which wfrun does not lay out by position. Rewriting would drop the text and the LoRA rows
    (and so refuse the file); the node is read with the signature it was saved for."""
    rows = [{"name": "wan/tile", "strength": 1, "active": True, "clipStrength": 1, "expanded": False}]
    saved = [False, "<lora:wan/tile:1>", rows]
    data = {"last_node_id": 1, "last_link_id": 0, "links": [], "version": 0.4, "nodes": [
        {"id": 1, "type": "WanVideo Lora Select (LoraManager)", "pos": [0, 0], "size": [300, 100], "mode": 0,
         "order": 0, "flags": {}, "inputs": [],
         "outputs": [{"name": "lora", "type": "WANVIDLORA", "links": None},
                     {"name": "trigger_words", "type": "STRING", "links": None},
                     {"name": "active_loras", "type": "STRING", "links": None}],
         "properties": {"cnr_id": "comfyui-lora-manager", "ver": "71762d788f45efb012391e538c1240275a190384"},
         "widgets_values": copy.deepcopy(saved)}]}
    result = migrate_document(from_data(data))
    node_ = _nodes_of(result.document, "WanVideo Lora Select (LoraManager)")[0]
    assert node_["widgets_values"] == saved
    assert node_["properties"]["ver"] == "71762d788f45efb012391e538c1240275a190384"
    kept = [c for r in result.nodes for c in r.changes if c.what == "kept"]
    assert kept and kept[0].input == "text"
