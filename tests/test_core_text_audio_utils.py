"""ComfyUI's RegexExtract, CustomCombo, PreviewAny, CreateList, TrimAudioDuration and
AudioConcat: Python's ``re`` as the reference for the regex modes, the Dancer template's own
pattern and text, the frontend's saved combo layout, ``json``/``str`` for the preview, and
sample arithmetic worked by hand for the audio."""

from __future__ import annotations

import json
import re

import pytest
import torch

from tests.node_helpers import node
from wfrun.media.audio import resample
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core import regex_nodes

ctx = ExecContext()


def extract(string, pattern, mode, **flags):
    return node("RegexExtract")(ctx, string=string, regex_pattern=pattern, mode=mode, **flags)[0]


def refused(class_type, name, context=ctx, **inputs):
    with pytest.raises(NodeInputError) as err:
        node(class_type)(context, **inputs)
    assert err.value.input_name == name, err.value
    return err.value


# ---------------------------------------------------------------------------- RegexExtract

def test_regex_extract_picks_the_dancer_templates_line():
    # the template turns the combo's INDEX into this pattern with StringReplace
    lines = "古典舞\n韩舞\n街舞\n拉丁舞\n踢踏舞"
    pattern = "(?:[^\\n]*\\n){index}([^\\n]+)".replace("index", "3")
    assert extract(lines, pattern, "First Group", case_insensitive=False) == "拉丁舞"
    assert extract(lines, pattern.replace("3", "0"), "First Group", case_insensitive=False) == "古典舞"


TEXT = "Frame 12: cat\nframe 7: Dog\nFRAME 3: owl"


@pytest.mark.parametrize("pattern", [r"frame (\d+): (\w+)", r"frame \d+", r"(frame) (\d+)?x?", r"^f\w+"])
@pytest.mark.parametrize("case_insensitive,multiline", [(True, False), (False, True), (True, True)])
def test_regex_extract_modes_follow_python_re(pattern, case_insensitive, multiline):
    flags = (re.IGNORECASE if case_insensitive else 0) | (re.MULTILINE if multiline else 0)
    options = dict(case_insensitive=case_insensitive, multiline=multiline, dotall=False)
    first = re.search(pattern, TEXT, flags)
    assert extract(TEXT, pattern, "First Match", **options) == (first.group(0) if first else "")
    found = re.findall(pattern, TEXT, flags)
    want = "\n".join(m[0] if isinstance(m, tuple) else m for m in found)
    assert extract(TEXT, pattern, "All Matches", **options) == want
    for group in (0, 1, 2):
        got = extract(TEXT, pattern, "First Group", group_index=group, **options)
        ok = first is not None and len(first.groups()) >= group
        assert got == ((first.group(group) or "") if ok else "")
        every = [m.group(group) or "" for m in re.finditer(pattern, TEXT, flags)
                 if m.groups() and len(m.groups()) >= group]
        assert extract(TEXT, pattern, "All Groups", group_index=group, **options) == "\n".join(every)


def test_regex_extract_dotall_and_a_pattern_re_refuses():
    assert extract("a\nb", "a.b", "First Match", dotall=True) == "a\nb"
    assert extract("a\nb", "a.b", "First Match", dotall=False) == ""
    assert extract("abc", "a(b", "First Match") == ""  # ComfyUI catches re.error: empty text


def test_regex_extract_stops_a_runaway_pattern_and_caps_sizes(monkeypatch):
    monkeypatch.setattr(regex_nodes, "REGEX_SECONDS", 0.05)
    err = refused("RegexExtract", "regex_pattern", string="a" * 5000 + "b", regex_pattern=r"(a|aa)+$",
                  mode="First Match")
    assert "backtracks" in err.hint or "backtracks" in str(err)
    refused("RegexExtract", "string", string="x" * (regex_nodes.MAX_TEXT + 1), regex_pattern="x", mode="First Match")
    refused("RegexExtract", "regex_pattern", string="x", regex_pattern="x" * (regex_nodes.MAX_PATTERN + 1),
            mode="First Match")


# ---------------------------------------------------------------------------- CustomCombo

def _combo_ctx(widgets):
    workflow = {"nodes": [{"id": 3, "type": "Sub", "widgets_values": []}],
                "definitions": {"subgraphs": [{"id": "Sub", "nodes": [
                    {"id": 9, "type": "CustomCombo", "widgets_values": widgets}]}]}}
    return ExecContext(workflow_json=workflow, node_id="3:9")


def test_custom_combo_gives_the_choice_and_its_place_among_the_saved_options():
    saved = ["Latin Dance 拉丁舞", 3, "Chinese Classic Dance 古典舞", "K-Pop 韩舞", "Street Dance 街舞",
             "Latin Dance 拉丁舞", "Tap Dance 踢踏舞", ""]
    context = _combo_ctx(saved)
    assert node("CustomCombo")(context, choice="Latin Dance 拉丁舞") == ("Latin Dance 拉丁舞", 3)
    # a choice changed after saving (--set) moves the index with it
    assert node("CustomCombo")(context, choice="K-Pop 韩舞") == ("K-Pop 韩舞", 1)
    # a choice not among the options: the saved index
    assert node("CustomCombo")(context, choice="Waltz") == ("Waltz", 3)
    # a queued index (API prompt) is taken as it is
    assert node("CustomCombo")(context, choice="K-Pop 韩舞", index=4) == ("K-Pop 韩舞", 4)
    # an earlier frontend saved no index
    assert node("CustomCombo")(_combo_ctx(["b", "a", "b", ""]), choice="b") == ("b", 1)
    assert node("CustomCombo")(ctx, choice="x") == ("x", 0)
    refused("CustomCombo", "choice", choice=None)


# ---------------------------------------------------------------------------- PreviewAny

def test_preview_any_writes_values_as_comfyui_does():
    run = node("PreviewAny")
    assert run(ctx, source="text") == ("text",)
    assert run(ctx, source=5) == ("5",) and run(ctx, source=2.5) == ("2.5",) and run(ctx, source=True) == ("True",)
    assert run(ctx, source=None) == ("None",)
    value = {"a": [1, 2], "b": "c"}
    assert run(ctx, source=value) == (json.dumps(value, indent=4),)
    before = torch._tensor_str.PRINT_OPTS.edgeitems
    (text,) = run(ctx, source=torch.arange(2000))
    assert text.startswith("tensor([   0,    1,    2,    3,    4,    5,  ...") and "1994" in text and "1993" not in text
    assert torch._tensor_str.PRINT_OPTS.edgeitems == before  # the print options are put back


# ---------------------------------------------------------------------------- CreateList

def test_create_list_orders_by_number_and_joins_its_input_lists():
    run = node("CreateList")  # a list node: each input arrives as a list (a plain value as a list of one)
    got = run(ctx, **{"inputs.input10": ["c"], "inputs.input2": ["a", "b"], "inputs.input0": ["z"]})
    assert got == (["z", "a", "b", "c"],)
    assert run(ctx, **{"inputs.input0": [[1, 2]]}) == ([[1, 2]],)  # a value that is a Python list stays one item
    refused("CreateList", "inputs.input0")


# ---------------------------------------------------------------------------- audio

def audio(channels, samples, rate, seed=0):
    wave = torch.rand(1, channels, samples, generator=torch.Generator().manual_seed(seed))
    return {"waveform": wave, "sample_rate": rate}


@pytest.mark.parametrize("start,duration,first,last", [
    (0.0, 60.0, 0, 1000),      # longer than the track: to its end
    (1.234, 2.0, 123, 323),    # seconds rounded to samples at 100 Hz
    (-3.0, 2.0, 700, 900),     # from 3 s before the end
    (-20.0, 1.0, 0, 100),      # a start before the beginning is the beginning
])
def test_trim_audio_duration_cuts_whole_samples(start, duration, first, last):
    sound = audio(2, 1000, 100)
    (out,) = node("TrimAudioDuration")(ctx, audio=sound, start_index=start, duration=duration)
    assert out["sample_rate"] == 100
    assert torch.equal(out["waveform"], sound["waveform"][..., first:last])


def test_trim_audio_duration_refuses_an_empty_cut():
    refused("TrimAudioDuration", "start_index", audio=audio(1, 1000, 100), start_index=12.0, duration=1.0)
    empty = {"waveform": torch.zeros(1, 1, 0), "sample_rate": 100}
    assert node("TrimAudioDuration")(ctx, audio=empty, start_index=0.0, duration=1.0)[0] is empty


def test_audio_concat_makes_mono_stereo_and_resamples_the_lower_rate():
    mono, stereo = audio(1, 300, 100, seed=1), audio(2, 400, 100, seed=2)
    (out,) = node("AudioConcat")(ctx, audio1=mono, audio2=stereo, direction="after")
    assert out["sample_rate"] == 100
    assert torch.equal(out["waveform"][:, 0, :300], mono["waveform"][:, 0])
    assert torch.equal(out["waveform"][:, 1, :300], mono["waveform"][:, 0])
    assert torch.equal(out["waveform"][:, :, 300:], stereo["waveform"])
    slow = audio(2, 200, 50, seed=3)
    (joined,) = node("AudioConcat")(ctx, audio1=stereo, audio2=slow, direction="before")
    assert joined["sample_rate"] == 100
    up = resample(slow["waveform"], 50, 100)
    assert up.shape[-1] == 400  # ceil(100 * 200 / 50)
    assert torch.equal(joined["waveform"], torch.cat([up, stereo["waveform"]], dim=2))
    refused("AudioConcat", "audio2", audio1=stereo, audio2=audio(3, 10, 100))
    refused("AudioConcat", "audio1", audio1={"waveform": torch.zeros(2, 10)}, audio2=stereo)


# ---------------------------------------------------------------------------- RegexMatch / RegexReplace

MATCH_CASES = [(r"frame \d+: dog", {}), (r"^frame", {"case_insensitive": False}), (r"cat.frame", {"dotall": True}),
               (r"^FRAME 3", {"multiline": True, "case_insensitive": False}), (r"(unclosed", {})]


@pytest.mark.parametrize("pattern,flags", MATCH_CASES)
def test_regex_match_is_python_re_search(pattern, flags):
    options = {"case_insensitive": True, "multiline": False, "dotall": False, **flags}
    bits = (re.IGNORECASE if options["case_insensitive"] else 0) | (re.MULTILINE if options["multiline"] else 0) | \
        (re.DOTALL if options["dotall"] else 0)
    try:
        expected = re.search(pattern, TEXT, bits) is not None
    except re.error:
        expected = False  # ComfyUI catches re.error: no match
    assert node("RegexMatch")(ctx, string=TEXT, regex_pattern=pattern, **options) == (expected,)


@pytest.mark.parametrize("pattern,template,count", [(r"(\d+)", r"<\1>", 0), (r"frame (?P<n>\d+)", r"F\g<n>", 1),
                                                    (r"\s+", " ", 2)])
def test_regex_replace_is_python_re_sub(pattern, template, count):
    expected = re.sub(pattern, template, TEXT, count=count, flags=re.IGNORECASE)
    assert node("RegexReplace")(ctx, string=TEXT, regex_pattern=pattern, replace=template, case_insensitive=True,
                                multiline=False, dotall=False, count=count) == (expected,)


def test_regex_replace_refuses_a_bad_pattern_or_template_and_a_runaway(monkeypatch):
    base = dict(string=TEXT, case_insensitive=True, multiline=False, dotall=False, count=0)
    refused("RegexReplace", "regex_pattern", regex_pattern="(unclosed", replace="x", **base)
    refused("RegexReplace", "replace", regex_pattern=r"(\d+)", replace=r"\2", **base)
    monkeypatch.setattr(regex_nodes, "REGEX_SECONDS", 0.05)
    refused("RegexReplace", "regex_pattern", regex_pattern=r"(a|aa)+$", replace="",
            **{**base, "string": "a" * 5000 + "b"})
    refused("RegexMatch", "regex_pattern", string="a" * 5000 + "b", regex_pattern=r"(a|aa)+$", case_insensitive=False,
            multiline=False, dotall=False)


def test_regex_replace_stops_a_result_that_would_grow_past_the_limit():
    err = refused("RegexReplace", "replace", string="x" * 1000, regex_pattern="x", replace="y" * 2000,
                  case_insensitive=False, multiline=False, dotall=False, count=0)
    assert "characters" in str(err)
