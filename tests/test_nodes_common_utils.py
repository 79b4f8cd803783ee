"""Utility nodes the public sets use most among those wfrun lacked (session 20): comfy_mtb's
Audio Duration and String Replace, JPS' Text Concatenate, Easy-Use's positive. Expected
values are computed by hand from the pack's rules (or by Python's own ``str.replace`` /
``re.sub``, which the packs call), and UI nodes saved by the public files are read through
the real graph builder so the widget order of each signature is checked too."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def audio(samples: int, rate: int, channels: int = 2) -> dict:
    return {"waveform": torch.zeros(1, channels, samples), "sample_rate": rate}


@pytest.mark.parametrize("samples,rate,ms", [(16000, 16000, 1000), (44100 * 3 + 1, 44100, 3000),
                                             (22049, 44100, 499), (1, 48000, 0), (0, 8000, 0)])
def test_audio_duration_truncates_to_whole_milliseconds(samples, rate, ms):
    # int(samples / rate * 1000), truncated: 22049 samples at 44.1 kHz are 499.97 ms -> 499
    assert node("Audio Duration (mtb)")(CTX, audio=audio(samples, rate)) == (ms,)


def test_audio_duration_refuses_what_is_not_audio():
    with pytest.raises(NodeInputError) as err:
        node("Audio Duration (mtb)")(CTX, audio=torch.zeros(1, 100))
    assert err.value.input_name == "audio"


@pytest.mark.parametrize("string,old,new,use_regex,expected", [
    ('"a", "b"', '"', "", False, "a, b"),
    ("a,b,,c", ",", "", False, "abc"),
    ("abc", "", "-", False, "-a-b-c-"),          # Python's str.replace with an empty old
    ("a.b.c", ".", "!", False, "a!b!c"),         # plain text: the dot is a dot
    ("a.b.c", ".", "!", True, "!!!!!"),          # a regex: the dot is any character
    ("frame_012.png", r"(\d+)", r"<\1>", True, "frame_<012>.png"),
    ("x  y   z", r"\s+", " ", True, "x y z"),
])
def test_string_replace_matches_python(string, old, new, use_regex, expected):
    reference = re.sub(old, new, string) if use_regex else string.replace(old, new)
    assert reference == expected
    assert node("String Replace (mtb)")(CTX, string=string, old=old, new=new, use_regex=use_regex) == (expected,)


@pytest.mark.parametrize("old,new,blamed", [("(", "", "old"), ("(a)", r"\2", "old"), ("a", r"\q", "old")])
def test_string_replace_bad_regex_is_named(old, new, blamed):
    with pytest.raises(NodeInputError) as err:
        node("String Replace (mtb)")(CTX, string="aaa", old=old, new=new, use_regex=True)
    assert err.value.input_name == blamed


def test_string_replace_runaway_regex_stops_with_an_error(monkeypatch):
    from wfrun.packs.mtb import nodes as mtb

    monkeypatch.setattr(mtb, "REGEX_SECONDS", 0.05)
    with pytest.raises(NodeInputError) as err:  # exponential backtracking: 2**30 ways to fail
        node("String Replace (mtb)")(CTX, string="a" * 60 + "b", old=r"(a|aa)+$", new="", use_regex=True)
    assert err.value.input_name == "old"


@pytest.mark.parametrize("delimiter,texts,expected", [
    ("comma", {"text1": "a cat", "text2": "a hat"}, "a cat, a hat"),
    ("space", {"text1": "a", "text3": "c", "text5": "e"}, "a c e"),
    ("none", {"text1": "x", "text2": "y", "text3": "z"}, "xyz"),
    ("comma", {"text1": "", "text2": "b", "text3": ""}, "b"),    # empty texts add no delimiter
    ("comma", {}, ""),
])
def test_text_concatenate(delimiter, texts, expected):
    assert node("Text Concatenate (JPS)")(CTX, delimiter=delimiter, **texts) == (expected,)


def test_text_concatenate_refusals():
    for inputs, blamed in (({"delimiter": "tab", "text1": "a"}, "delimiter"),
                           ({"delimiter": "comma", "text2": 3}, "text2")):
        with pytest.raises(NodeInputError) as err:
            node("Text Concatenate (JPS)")(CTX, **inputs)
        assert err.value.input_name == blamed


def test_easy_positive_passes_its_text_on():
    assert node("easy positive")(CTX, positive="a red fox\n") == ("a red fox\n",)
    with pytest.raises(NodeInputError) as err:
        node("easy positive")(CTX, positive=None)
    assert err.value.input_name == "positive"


def _ui_node(node_id, type_, widgets, inputs=(), outputs=(), props=None):
    return {"id": node_id, "type": type_, "mode": 0, "widgets_values": widgets, "properties": props or {},
            "inputs": [dict(i) for i in inputs], "outputs": [dict(o) for o in outputs]}


def test_saved_ui_nodes_read_with_their_signatures():
    """The widget layouts the public files saved: String Replace with and without use_regex
    (comfy_mtb before and after 2025-04-01), Text Concatenate's delimiter, easy positive."""
    nodes = [
        _ui_node(1, "easy positive", ['say "hi", then ,wave'], outputs=[{"name": "positive", "type": "STRING",
                                                                     "links": [1, 2]}],
                 props={"cnr_id": "comfyui-easy-use", "ver": "81c510c06e18dffd4f43518644fc35964c9168ca"}),
        _ui_node(2, "String Replace (mtb)", ['"', "", False],
                 inputs=[{"name": "string", "type": "STRING", "link": 1}],
                 outputs=[{"name": "STRING", "type": "STRING", "links": [3]}],
                 props={"cnr_id": "comfy-mtb", "ver": "7e89e96e9d83d7753a64a528df0828eb82a5f20d"}),
        _ui_node(3, "String Replace (mtb)", [",", ";"],
                 inputs=[{"name": "string", "type": "STRING", "link": 2}],
                 outputs=[{"name": "STRING", "type": "STRING", "links": [5]}],
                 props={"cnr_id": "comfy-mtb", "ver": "e56508c"}),
        _ui_node(4, "Text Concatenate (JPS)", ["comma"],
                 inputs=[{"name": "text1", "type": "STRING", "link": 3}, {"name": "text2", "type": "STRING", "link": 5},
                         {"name": "text3", "type": "STRING", "link": None}],
                 outputs=[{"name": "text", "type": "STRING", "links": [6]}],
                 props={"cnr_id": "ComfyUI_JPS-Nodes", "ver": "0e2a9aca02b17dde91577bfe4b65861df622dcaf"}),
        _ui_node(5, "PreviewAny", [], inputs=[{"name": "source", "type": "*", "link": 6}]),
    ]
    links = [[1, 1, 0, 2, 0, "STRING"], [2, 1, 0, 3, 0, "STRING"], [3, 2, 0, 4, 0, "STRING"],
             [5, 3, 0, 4, 1, "STRING"], [6, 4, 0, 5, 0, "STRING"]]
    workflow = {"nodes": nodes, "links": links, "version": 0.4}
    graph = build(from_data(workflow, "utils.json"))
    assert not graph.problems, graph.problems
    assert graph.node("2").inputs["use_regex"] is False and graph.node("2").inputs["old"] == '"'
    assert graph.node("3").inputs["old"] == "," and graph.node("3").inputs["new"] == ";"
    result = run_plan(graph, make_plan(graph, ["4"]), CTX)
    text = 'say "hi", then ,wave'
    assert result.outputs["4"] == (text.replace('"', "") + ", " + text.replace(",", ";"),)


def _switch_workflow(select: int, label: bool = True) -> dict:
    """easy positive "one" -> input1 (through a String Replace whose regex fails if it runs),
    easy positive "two" -> input2 (labelled "second" in the UI), ImpactSwitch, PreviewAny."""
    input2 = {"name": "input2", "type": "STRING", "link": 4} | ({"label": "second"} if label else {})
    nodes = [
        _ui_node(1, "easy positive", ["one"], outputs=[{"name": "positive", "type": "STRING", "links": [1]}]),
        _ui_node(2, "String Replace (mtb)", ["(", "", True], inputs=[{"name": "string", "type": "STRING", "link": 1}],
                 outputs=[{"name": "STRING", "type": "STRING", "links": [2]}],
                 props={"cnr_id": "comfy-mtb", "ver": "0.5.4"}),
        _ui_node(3, "easy positive", ["two"], outputs=[{"name": "positive", "type": "STRING", "links": [4]}]),
        _ui_node(4, "ImpactSwitch", [select, False],
                 inputs=[{"name": "input1", "type": "*", "link": 2}, input2, {"name": "input3", "type": "*", "link": None}],
                 outputs=[{"name": "selected_value", "type": "*", "links": [5]},
                          {"name": "selected_label", "type": "STRING", "links": None},
                          {"name": "selected_index", "type": "INT", "links": None}],
                 props={"cnr_id": "comfyui-impact-pack", "ver": "8.21.0"}),
        _ui_node(5, "PreviewAny", [], inputs=[{"name": "source", "type": "*", "link": 5}]),
    ]
    links = [[1, 1, 0, 2, 0, "STRING"], [2, 2, 0, 4, 0, "*"], [4, 3, 0, 4, 1, "STRING"], [5, 4, 0, 5, 0, "*"]]
    return {"nodes": nodes, "links": links, "version": 0.4}


def _run_switch(workflow: dict):
    import dataclasses

    graph = build(from_data(workflow, "switch.json"))
    assert not graph.problems, graph.problems
    ctx = dataclasses.replace(CTX, workflow_json=workflow)
    return run_plan(graph, make_plan(graph, ["4"]), ctx)


def test_impact_switch_gives_the_chosen_input_its_label_and_index_and_skips_input1():
    result = _run_switch(_switch_workflow(2))
    assert result.outputs["4"] == ("two", "second", 2)
    assert "2" not in result.outputs  # input1's branch (a failing regex) never ran: input1 is lazy


def _regex_on_input2(select: int) -> dict:
    """The switch workflow with its branches swapped: "one" straight into input1, "two"
    through the failing regex into input2."""
    workflow = _switch_workflow(select)
    nodes = {n["id"]: n for n in workflow["nodes"]}
    workflow["links"] = [[1, 3, 0, 2, 0, "STRING"], [2, 2, 0, 4, 1, "*"], [4, 1, 0, 4, 0, "STRING"],
                         [5, 4, 0, 5, 0, "*"]]
    nodes[1]["outputs"][0]["links"], nodes[3]["outputs"][0]["links"] = [4], [1]
    nodes[2]["inputs"][0]["link"], nodes[2]["outputs"][0]["links"] = 1, [2]
    nodes[4]["inputs"][0]["link"], nodes[4]["inputs"][1]["link"] = 4, 2
    return workflow


def test_impact_switch_skips_an_unchosen_numbered_input_too():
    """ComfyUI treats every numbered input as lazy (the pack answers its lookups for any
    name): with input1 chosen, input2's branch (the failing regex) never runs; chosen, it
    runs and fails (so the branch is wired)."""
    result = _run_switch(_regex_on_input2(1))
    assert result.outputs["4"] == ("one", "input1", 1)
    assert "2" not in result.executed
    with pytest.raises(NodeError) as err:
        _run_switch(_regex_on_input2(2))
    assert err.value.node.id == "2"


def test_impact_switch_label_defaults_to_the_input_name_and_unconnected_gives_none():
    assert _run_switch(_switch_workflow(2, label=False)).outputs["4"] == ("two", "input2", 2)
    assert _run_switch(_switch_workflow(3)).outputs["4"] == (None, "", 3)


def test_impact_switch_direct_calls():
    ctx = CTX  # no UI workflow (an API file): the label is the input's name
    assert node("ImpactSwitch")(ctx, select=1, input1=7, input2=8) == (7, "input1", 1)
    with pytest.raises(NodeInputError) as err:
        node("ImpactSwitch")(ctx, select="2", input1=7)
    assert err.value.input_name == "select"


def _run_prompt(prompt: dict, wanted: list[str]):
    import dataclasses

    graph = build(from_data(prompt, "any.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, wanted), dataclasses.replace(CTX, workflow_json=prompt)).outputs


def test_length_and_index_anything_on_a_list_output():
    from wfrun.packs.basic_data_handling.common import PREFIX

    prompt = {
        # a list output of ONE item: ComfyUI's pack counts the list (1), not len(0), which fails
        "1": {"class_type": PREFIX + "DataListRange", "inputs": {"start": 0, "stop": 1, "step": 1}},
        "2": {"class_type": "easy lengthAnything", "inputs": {"any": ["1", 0]}},
        "3": {"class_type": PREFIX + "DataListRange", "inputs": {"start": 10, "stop": 13, "step": 1}},
        "4": {"class_type": "easy lengthAnything", "inputs": {"any": ["3", 0]}},
        "5": {"class_type": "easy indexAnything", "inputs": {"any": ["3", 0], "index": -1}},
        "6": {"class_type": "easy indexAnything", "inputs": {"any": ["3", 0], "index": 99}},
    }
    out = _run_prompt(prompt, ["2", "4", "5", "6"])
    assert out["2"] == (1,) and out["4"] == (3,)
    assert out["5"] == (12,) and out["6"] == (12,)  # -1 counts from the end; 99 is clamped to the last


def test_length_and_index_anything_on_plain_values():
    prompt = {
        "1": {"class_type": "easy positive", "inputs": {"positive": "abcd"}},
        "2": {"class_type": "easy lengthAnything", "inputs": {"any": ["1", 0]}},
        "3": {"class_type": "easy indexAnything", "inputs": {"any": ["1", 0], "index": 1}},
        "4": {"class_type": "easy indexAnything", "inputs": {"any": ["1", 0], "index": -9}},
        "5": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 5, "color": 0}},
        "6": {"class_type": "easy lengthAnything", "inputs": {"any": ["5", 0]}},
        "7": {"class_type": "easy indexAnything", "inputs": {"any": ["5", 0], "index": -2}},
    }
    out = _run_prompt(prompt, ["2", "3", "4", "6", "7"])
    assert out["2"] == (4,)                       # len("abcd")
    assert out["3"] == ("b",) and out["4"] == ("a",)  # -9 + 4 = -5, clamped to 0
    assert out["6"] == (5,)                       # an IMAGE batch: its frames
    assert out["7"][0].shape == (1, 8, 8, 3)      # frame 3 of 5, kept as a batch of one


def test_length_anything_of_a_number_is_the_packs_failure():
    prompt = {
        "1": {"class_type": "easy int", "inputs": {"value": 3}},
        "2": {"class_type": "easy lengthAnything", "inputs": {"any": ["1", 0]}},
    }
    from wfrun.engine.run import NodeError

    with pytest.raises(NodeError, match="input 'any': a int has no length"):
        _run_prompt(prompt, ["2"])


def test_frame_select_is_python_indexing_kept_as_a_batch():
    frames = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 2, 3, 3).contiguous()
    for select, expected in ((0, 0.0), (3, 3.0), (-1, 4.0)):
        (out,) = node("Frame Select")(CTX, frames=frames, select=select)
        assert out.shape == (1, 2, 3, 3) and torch.equal(out, torch.full((1, 2, 3, 3), expected))
    for inputs, blamed in (({"frames": frames, "select": 5}, "select"), ({"frames": torch.zeros(2, 2), "select": 0}, "frames")):
        with pytest.raises(NodeInputError) as err:
            node("Frame Select")(CTX, **inputs)
        assert err.value.input_name == blamed


def _brute_morph(mask: np.ndarray, kernel: np.ndarray, dilate: bool) -> np.ndarray:
    """OpenCV's dilate/erode written per pixel: max (min) over the kernel cells that fall inside."""
    r = kernel.shape[0] // 2
    h, w = mask.shape
    out = np.empty_like(mask)
    for y in range(h):
        for x in range(w):
            vals = [mask[y + dy, x + dx] for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                    if kernel[dy + r, dx + r] and 0 <= y + dy < h and 0 <= x + dx < w]
            out[y, x] = max(vals) if dilate else min(vals)
    return out


@pytest.mark.parametrize("radius,shape", [(1, "box"), (-1, "box"), (2, "circle"), (-3, "circle"), (3, "box")])
def test_dilate_erode_mask_matches_per_pixel_morphology(radius, shape):
    from wfrun.models.pose import raster

    g = torch.Generator().manual_seed(radius + 7)
    masks = torch.rand(2, 9, 11, generator=g)
    s = abs(radius)
    kernel = np.zeros((2 * s + 1, 2 * s + 1, 1), np.uint8)
    if shape == "circle":
        raster.circle(kernel, (s, s), s, (1,))  # cv2.circle(k, (s, s), s, 1, -1)
    else:
        kernel[:] = 1
    (out,) = node("DilateErodeMask")(CTX, masks=masks, radius=radius, shape=shape)
    assert out.dtype == torch.float32 and out.shape == masks.shape
    for i in range(2):
        expected = _brute_morph(masks[i].numpy(), kernel[..., 0], radius > 0)
        assert np.array_equal(out[i].numpy(), expected)


def test_dilate_erode_mask_by_hand():
    masks = torch.zeros(1, 5, 5)
    masks[0, 2, 2] = 1.0
    (grown,) = node("DilateErodeMask")(CTX, masks=masks, radius=1, shape="box")
    assert torch.equal(grown[0], torch.nn.functional.pad(torch.ones(3, 3), (1, 1, 1, 1)))
    (plus,) = node("DilateErodeMask")(CTX, masks=masks, radius=1, shape="circle")
    assert plus[0, 1:4, 1:4].tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    (shrunk,) = node("DilateErodeMask")(CTX, masks=grown, radius=-1, shape="box")
    assert torch.equal(shrunk, masks)
    assert node("DilateErodeMask")(CTX, masks=masks, radius=0, shape="box")[0] is masks
    with pytest.raises(NodeInputError) as err:
        node("DilateErodeMask")(CTX, masks=masks[0], radius=1, shape="box")
    assert err.value.input_name == "masks"


def _decoded_s16(path) -> np.ndarray:
    import subprocess

    from wfrun.media.video import ffmpeg_exe

    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(out, "<i2")


def test_save_audio_writes_16_bit_flac_as_swresample_converts(tmp_path):
    import dataclasses
    import subprocess

    from wfrun.media.video import ffmpeg_exe

    g = torch.Generator().manual_seed(3)
    waveform = (torch.rand(2, 2, 300, generator=g) * 2.4 - 1.2)  # two stereo items, some beyond [-1, 1]
    waveform[0, 0, :6] = torch.tensor([0.5, 1.5 / 32768, 2.5 / 32768, -2.5 / 32768, 1.0, -1.0])
    prompt = {"1": {"class_type": "SaveAudio", "inputs": {"filename_prefix": "audio/take_%batch_num%"}}}
    ctx = dataclasses.replace(CTX, output_dir=tmp_path, workflow_json=prompt)
    out = node("SaveAudio")(ctx, audio={"waveform": waveform, "sample_rate": 16000},
                            filename_prefix="audio/take_%batch_num%")
    assert out[0]["waveform"] is waveform
    files = sorted(p.name for p in (tmp_path / "audio").iterdir())
    assert files == ["take_0_00001.flac", "take_1_00002.flac"]
    for i, name in enumerate(files):
        # libswresample's float -> s16: lrintf(x * 32768) clipped, i.e. round half to even
        expected = np.clip(np.rint(waveform[i].numpy().astype(np.float32) * 32768), -32768, 32767).astype(np.int16)
        assert np.array_equal(_decoded_s16(tmp_path / "audio" / name), expected.T.reshape(-1))
    tags = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "audio" / files[0]), "-f", "ffmetadata",
                           "-"], capture_output=True, check=True).stdout.decode()
    assert 'prompt={"1": {"class_type": "SaveAudio"' in tags


def test_save_audio_refusals(tmp_path):
    import dataclasses

    ctx = dataclasses.replace(CTX, output_dir=tmp_path)
    for inputs, blamed in (({"audio": {"waveform": torch.zeros(1, 3, 100), "sample_rate": 8000}}, "audio"),
                           ({"audio": None}, "audio"),
                           ({"audio": {"waveform": torch.zeros(1, 1, 100), "sample_rate": 8000},
                             "filename_prefix": "../escape"}, "filename_prefix")):
        with pytest.raises(NodeInputError) as err:
            node("SaveAudio")(ctx, **inputs)
        assert err.value.input_name == blamed


@pytest.mark.parametrize("a_value,b_value,operator,a,b,expected", [
    ("", "-1", "==", None, None, False),        # 0 == -1
    ("", "1", "==", 1, None, True),             # a linked 1, b from text
    ("frame 12.0 of 30", "12", "==", None, None, True),   # first number, 12.0 kept as int 12
    ("x2.5e1", "25", ">=", None, None, True),
    ("no number", "", "==", None, None, True),  # both 0
    ("", "", "and", 0, 7, 0),                   # Python's and: the falsy side
    ("", "", "or", 0, 7, 7),
    ("", "", "xor", 3, 3, False),
    ("", "", "not(a)", "", None, True),
    ("", "", "max", 2, 9.5, 9.5),
    ("", "", "<", "abc", "abd", True),
])
def test_boolean_operator_v2(a_value, b_value, operator, a, b, expected):
    out = node("LayerUtility: BooleanOperatorV2")(CTX, a_value=a_value, b_value=b_value, operator=operator, a=a, b=b)
    assert out == (expected, str(expected)) and type(out[0]) is type(expected)


def test_boolean_operator_v2_refusals():
    for inputs, blamed in (({"a_value": "1e999"}, "a_value"), ({"a": 1, "b": "x", "operator": "<"}, "operator"),
                           ({"a": torch.ones(2), "b": 1}, "a"), ({"operator": "nand"}, "operator")):
        args = {"a_value": "", "b_value": "", "operator": "=="} | inputs
        with pytest.raises(NodeInputError) as err:
            node("LayerUtility: BooleanOperatorV2")(CTX, **args)
        assert err.value.input_name == blamed
