"""Text and list nodes of the fifth public set: Comfyroll's CR Prompt Text / CR Prompt List,
KepListStuff's List Length, TextUtils' Split String to List, Mira's TextCombinerTwo,
Chibi's Int2String, SelectStringFromListWithIndex's StringFromList, CreaPrompt List.

References: each pack's function worked through by hand for the inputs here (the expected
values are written out, not computed with wfrun's code), and, for the list nodes in whole
workflows, ComfyUI's list rules (``execution.py``: a node with ``INPUT_IS_LIST`` gets whole
lists; a list output's items reach the next node one call each)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from node_helpers import node
from wfrun.engine.executors import get_executor
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
HELP = "https://github.com/Suzie1/ComfyUI_Comfyroll_CustomNodes/wiki/"


def run(prompt: dict, outputs: list[str], ctx: ExecContext | None = None):
    graph = build(from_data(json.loads(json.dumps(prompt)), "set5_text.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ctx or ExecContext())


# ----------------------------------------------------------------------- Comfyroll

def test_cr_prompt_text_passes_the_prompt_and_its_help_url():
    assert node("CR Prompt Text")(CTX, prompt="a cat\non a mat") == ("a cat\non a mat", HELP + "Core-Nodes#cr-prompt-text")
    with pytest.raises(NodeInputError) as err:
        node("CR Prompt Text")(CTX, prompt=3)
    assert err.value.input_name == "prompt"


def test_cr_prompt_list_wraps_each_selected_line():
    out = node("CR Prompt List")(CTX, multiline_text="red\ngreen\nblue\nblack", prepend_text="a ", append_text=" car",
                                 start_index=1, max_rows=2)
    assert out == (["a green car", "a blue car"], ["green", "blue"], HELP + "List-Nodes#cr-prompt-list")


@pytest.mark.parametrize("start,rows,prompts", [
    (0, 1000, ["x", "y", "z"]),      # the defaults: every line
    (7, 5, ["z"]),                   # start clamped to the last line
    (0, 0, []),                      # no rows: an empty list
    (2, 1, ["z"]),
])
def test_cr_prompt_list_clamps_start_and_counts_rows(start, rows, prompts):
    assert node("CR Prompt List")(CTX, multiline_text="x\ny\nz", start_index=start, max_rows=rows)[1] == prompts


def test_cr_prompt_list_splits_on_newline_only_and_keeps_empty_lines():
    # str.split('\n'): a CR stays in its line, a trailing newline makes an empty last line
    assert node("CR Prompt List")(CTX, multiline_text="a\r\nb\n")[1] == ["a\r", "b", ""]


def test_the_older_cr_prompt_list_is_refused():
    with pytest.raises(NodeInputError) as err:  # its inputs of 2023-11-25
        get_executor("CR Prompt List")(CTX, keyframe_interval=30, loops=1, prompt_1="p")
    assert err.value.input_name == "prompt_1" and "PROMPT_LIST" in str(err.value)


def test_cr_prompt_list_feeds_the_next_node_once_per_line():
    prompt = {
        "1": {"class_type": "CR Prompt List", "inputs": {"prepend_text": "<", "multiline_text": "one\ntwo\nthree",
                                                          "append_text": ">", "start_index": 0, "max_rows": 1000}},
        "2": {"class_type": "StringConcatenate", "inputs": {"string_a": ["1", 0], "string_b": "!", "delimiter": ""}},
        "3": {"class_type": "List Length", "inputs": {"In": ["2", 0]}},
    }
    result = run(prompt, ["3", "2"])
    assert list(result.outputs["2"][0]) == ["<one>!", "<two>!", "<three>!"]  # one call per line
    assert result.outputs["3"] == (3,)


# ----------------------------------------------------------------------- List Length, Split String

def test_list_length_counts_a_list_and_a_plain_value_as_one():
    assert node("List Length")(CTX, In=["a", "b", "c"]) == (3,)
    prompt = {"1": {"class_type": "PrimitiveString", "inputs": {"value": "alone"}},
              "2": {"class_type": "List Length", "inputs": {"In": ["1", 0]}}}
    assert run(prompt, ["2"]).outputs["2"] == (1,)


@pytest.mark.parametrize("text,separator,parts", [
    ("a/b/c", "/", ["a", "b", "c"]),
    ("a//b/", "/", ["a", "", "b", ""]),
    ("line one\nline two", "\\n", ["line one\nline two"]),   # the two characters \ and n, taken literally
    ("x\\ny", "\\n", ["x", "y"]),
    ("", "/", [""]),
])
def test_split_string_is_str_split(text, separator, parts):
    assert node("Text Utils - Split String to List")(CTX, text=text, separator=separator) == (parts,)


def test_split_string_refuses_an_empty_separator():
    with pytest.raises(NodeInputError) as err:
        node("Text Utils - Split String to List")(CTX, text="abc", separator="")
    assert err.value.input_name == "separator"


def test_split_then_length_then_prompt_list_rows():
    # 023's chain: the number of parts of a split string sets CR Prompt List's max_rows
    prompt = {
        "1": {"class_type": "Text Utils - Split String to List", "inputs": {"text": "a/b", "separator": "/"}},
        "2": {"class_type": "List Length", "inputs": {"In": ["1", 0]}},
        "3": {"class_type": "CR Prompt List", "inputs": {"prepend_text": "", "multiline_text": "p\nq\nr",
                                                          "append_text": "", "start_index": 0, "max_rows": ["2", 0]}},
        "4": {"class_type": "List Length", "inputs": {"In": ["3", 0]}},
    }
    assert run(prompt, ["4"]).outputs["4"] == (2,)


# ----------------------------------------------------------------------- Mira, Chibi

def test_text_combiner_two_joins_with_nothing_between():
    assert node("TextCombinerTwo")(CTX, text1="Cinematic clip, ", text2="a dancer") == ("Cinematic clip, a dancer",)
    assert node("TextCombinerTwo")(CTX, text1="x", text2="") == ("x",)
    with pytest.raises(NodeInputError) as err:
        node("TextCombinerTwo")(CTX, text1="x", text2=None)
    assert err.value.input_name == "text2"


def test_int2string_is_str():
    assert node("Int2String")(CTX, Int=42) == ("42",)
    assert node("Int2String")(CTX, Int=-7) == ("-7",)
    with pytest.raises(NodeInputError):
        node("Int2String")(CTX, Int=[1])


def test_chibi_textbox_of_its_first_signature_gives_its_textfield():
    assert get_executor("Textbox")(CTX, textfield="old box") == ("old box",)


# ----------------------------------------------------------------------- StringFromList

ITEMS = ["zero", "one", "two"]


@pytest.mark.parametrize("index,item,wraps", [
    (0, "zero", 0), (2, "two", 0), (3, "zero", 1), (4, "one", 1), (7, "one", 2),
    # math.fmod keeps the sign: -1 -> -1 (the last item), -4 -> -1, -3 -> 0; wraps floor: -1, -2, -1
    (-1, "two", -1), (-4, "two", -2), (-3, "zero", -1), (-2, "one", -1),
])
def test_string_from_list_wraps_like_fmod(index, item, wraps):
    assert node("StringFromList")(CTX, list_input=ITEMS, index=[index]) == ([item], 3, [wraps])


def test_string_from_list_takes_several_indices_and_refuses_an_empty_list():
    assert node("StringFromList")(CTX, list_input=ITEMS, index=[1, 5]) == (["one", "two"], 3, [0, 1])
    with pytest.raises(NodeInputError) as err:
        node("StringFromList")(CTX, list_input=[], index=[0])
    assert err.value.input_name == "list_input"


def test_string_from_list_reads_a_whole_prompt_list():
    prompt = {
        "1": {"class_type": "CR Prompt List", "inputs": {"prepend_text": "", "multiline_text": "a\nb\nc\nd",
                                                          "append_text": "", "start_index": 0, "max_rows": 1000}},
        "2": {"class_type": "StringFromList", "inputs": {"list_input": ["1", 0], "index": 5}},
    }
    out = run(prompt, ["2"]).outputs["2"]
    assert out == ("b", 4, 1)  # 5 fmod 4 = 1, 5 // 4 = 1; lists of one are held as their item


# ----------------------------------------------------------------------- CreaPrompt List

@pytest.mark.parametrize("prefix,suffix,prompts", [
    ("", "", ["walk", "run"]),
    ("style", "", ["style,walk", "style,run"]),
    ("", "4k", ["walk,4k", "run,4k"]),
    ("style", "4k", ["style,walk,4k", "style,run,4k"]),
])
def test_crea_prompt_list_joins_prefix_and_suffix_with_commas(prefix, suffix, prompts):
    # surrounding blank lines and spaces are stripped first (1.6.0)
    prompt_out, debug = _crea("\n\nwalk\nrun\n  ", prefix, suffix)
    assert prompt_out == prompts
    # the pack declares prompt_debug a list and returns one string: ComfyUI extends the list
    # with that string, so the nodes linked there get it one character at a time
    assert debug == list("\n".join("➡️" + p for p in prompts))


def _crea(text: str, prefix: str, suffix: str) -> tuple:
    return get_executor("CreaPrompt List")(CTX, Multi_prompts=text, prefix=prefix, suffix=suffix)


def test_crea_prompt_list_with_seed_base_gives_seeds_and_one_debug_string():
    out = get_executor("CreaPrompt List")(CTX, Multi_prompts="a\nb\nc", seed_base=100, prefix="", suffix="")
    assert out == (["a", "b", "c"], [100, 101, 102], "➡️a\n➡️b\n➡️c")


def test_crea_prompt_list_of_its_first_days_is_refused():
    with pytest.raises(NodeInputError) as err:
        _crea_ctx(replace(CTX, saved_date="2024-07-06"))
    assert err.value.input_name == "Multi_prompts"


def _crea_ctx(ctx: ExecContext) -> tuple:
    return get_executor("CreaPrompt List")(ctx, Multi_prompts="a", prefix="", suffix="")


def test_crea_prompt_list_then_string_from_list_as_in_the_public_workflow():
    # 033: CreaPrompt List (prefix "body_text") -> StringFromList index 0 and 1
    prompt = {
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "look left\nlook right\nsmile"}},
        "2": {"class_type": "CreaPrompt List", "inputs": {"Multi_prompts": ["1", 0], "prefix": "body_text",
                                                           "suffix": ""}},
        "3": {"class_type": "StringFromList", "inputs": {"list_input": ["2", 0], "index": 0}},
        "4": {"class_type": "StringFromList", "inputs": {"list_input": ["2", 0], "index": 4}},
    }
    result = run(prompt, ["3", "4"])
    assert result.outputs["3"] == ("body_text,look left", 3, 0)
    assert result.outputs["4"] == ("body_text,look right", 3, 1)


def test_a_non_text_input_is_named_in_the_run():
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
              "2": {"class_type": "TextCombinerTwo", "inputs": {"text1": "a", "text2": ["1", 0]}}}
    with pytest.raises(NodeError) as err:
        run(prompt, ["2"])
    assert err.value.input_name == "text2"
