"""Small text nodes real Wan workflows use: ComfyUI's StringConcatenate, KJNodes'
JoinStrings, WAS's Text Find and Replace (Python's re.subn, as the pack) and Chibi-Nodes'
Textbox."""

from __future__ import annotations

import re

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_string_concatenate_puts_the_delimiter_between():
    assert node("StringConcatenate")(CTX, string_a="a cat", string_b="runs", delimiter=", ") == ("a cat, runs",)
    assert node("StringConcatenate")(CTX, string_a="a", string_b="b") == ("ab",)  # the spec's default ""
    with pytest.raises(NodeInputError):
        node("StringConcatenate")(CTX, string_a=1, string_b="b", delimiter="")


def test_join_strings():
    assert node("JoinStrings")(CTX, delimiter=" ", string1="x", string2="y") == ("x y",)
    assert node("JoinStrings")(CTX, delimiter="-", string1="x") == ("x-",)


@pytest.mark.parametrize("text,find,replace", [
    ("a photo of a photo", "photo", "video"), ("drawing", "illustration", "video"), ("ab12cd3", r"\d+", "#"),
    ("John Smith", r"(\w+) (\w+)", r"\2 \1"), ("", "", "x"),
])
def test_find_and_replace_is_re_subn(text, find, replace):
    expected, count = re.subn(find, replace, text)
    assert node("Text Find and Replace")(CTX, text=text, find=find, replace=replace) == (expected, count, float(count), count)


def test_find_and_replace_bad_pattern_is_clear():
    with pytest.raises(NodeInputError) as err:
        node("Text Find and Replace")(CTX, text="a (b", find="(b", replace="")
    assert err.value.input_name == "find"


def test_textbox_passthrough_wins_when_not_empty():
    assert node("Textbox")(CTX, text="typed") == ("typed",)
    assert node("Textbox")(CTX, text="typed", passthrough="") == ("typed",)
    assert node("Textbox")(CTX, text="typed", passthrough="from a node") == ("from a node",)
