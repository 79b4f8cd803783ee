"""Loading and writing workflow files loses nothing, and bad files are named precisely."""

from __future__ import annotations

import json

import pytest

from conftest import all_workflow_files, corpus_files, is_api_prompt, template_files
from wfrun.formats import FormatError, load, load_text
from wfrun.formats.document import dumps


def test_there_is_real_data():
    assert len(corpus_files()) >= 130
    assert len(template_files()) >= 640  # 644 workflows in 0.1.123 (the other JSON files are indexes)


@pytest.mark.parametrize("path", all_workflow_files(), ids=lambda p: p.name)
def test_round_trip_gives_back_the_same_json_in_the_same_key_order(path):
    original = json.loads(path.read_text(encoding="utf-8"))
    doc = load(path)
    assert doc.kind == ("api" if is_api_prompt(path) else "ui")
    assert doc.dump() == original
    assert json.dumps(doc.dump()) == json.dumps(original)  # key order too


def test_one_x_links_as_objects_load_and_normalise():
    text = json.dumps({
        "version": 1, "state": {"lastNodeId": 2, "lastLinkId": 1, "lastGroupId": 0, "lastRerouteId": 0},
        "nodes": [{"id": 1, "type": "A", "outputs": [{"name": "x", "type": "INT", "links": [1]}]},
                  {"id": 2, "type": "B", "inputs": [{"name": "y", "type": "INT", "link": 1}]}],
        "links": [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0,
                   "type": "INT", "parentId": 3}],
        "reroutes": [{"id": 3, "pos": [0, 0], "linkIds": [1]}],
    })
    doc = load_text(text)
    (link,) = list(doc.ui.iter_links())
    assert (link.origin_id, link.target_id, link.type) == (1, 2, "INT")
    assert doc.dump() == json.loads(text)


def test_api_prompt_is_detected_and_round_trips():
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "model": ["4", 0]},
                    "_meta": {"title": "KSampler"}}}
    doc = load_text(json.dumps(prompt))
    assert doc.kind == "api"
    assert doc.dump() == prompt


def test_invalid_json_names_line_and_column():
    with pytest.raises(FormatError) as info:
        load_text('{\n  "nodes": [1,\n  }', "bad.json")
    problem = info.value.problems[0]
    assert problem.code == "invalid-json"
    assert (problem.line, problem.column) == (3, 3)
    assert str(info.value).startswith("bad.json:3:3:")


def test_wrong_field_type_names_the_path_and_is_not_coerced():
    with pytest.raises(FormatError) as info:
        load_text('{"nodes": [{"id": 1, "type": "X", "mode": "4"}], "links": []}', "f.json")
    assert info.value.problems[0].path == "nodes[0].mode"
    assert "found \"4\"" in info.value.problems[0].message


def test_not_a_workflow():
    with pytest.raises(FormatError) as info:
        load_text('{"hello": 1}')
    assert info.value.problems[0].code == "unknown-format"


def test_dumps_keeps_unicode_and_ends_with_newline(tmp_path):
    doc = load_text('{"nodes": [{"id": 1, "type": "Note", "widgets_values": ["café ✓"]}], "links": []}')
    text = dumps(doc)
    assert "café ✓" in text and text.endswith("\n")


def test_saved_prompt_request_body_reads_its_prompt():
    """A kept ``POST /prompt`` body: ComfyUI's server queues body["prompt"] and ignores the
    other keys (client_id, extra_data, a script's own notes); so does wfrun."""
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "model": ["4", 0]}}}
    body = {"client_id": "abc", "prompt": prompt, "extra_data": {"extra_pnginfo": {}}, "_comment": "x"}
    doc = load_text(json.dumps(body))
    assert doc.kind == "api"
    assert doc.dump() == prompt


def test_saved_worker_request_reads_its_workflow():
    """A RunPod worker-comfyui request ``{"input": {"workflow": {...}}}``: the worker queues
    ``input.workflow`` as ComfyUI's prompt; wfrun reads the same prompt, other keys dropped."""
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "model": ["4", 0]}}}
    doc = load_text(json.dumps({"input": {"workflow": prompt, "images": []}, "webhook": "https://x"}))
    assert doc.kind == "api" and doc.dump() == prompt


def test_worker_request_without_a_prompt_is_refused():
    prompt = {"3": {"class_type": "KSampler", "inputs": {}}}
    for body in ({"input": {"workflow": {"nodes": []}}}, {"input": {"prompt": prompt}}, {"input": "x"}):
        with pytest.raises(FormatError) as info:
            load_text(json.dumps(body))
        assert info.value.problems[0].code == "unknown-format"


def test_prompt_key_that_is_not_an_api_prompt_is_still_refused():
    for body in ({"prompt": "a cat"}, {"prompt": {"3": {"inputs": {}}}}, {"prompt": {}}):
        with pytest.raises(FormatError) as info:
            load_text(json.dumps(body))
        assert info.value.problems[0].code == "unknown-format"
