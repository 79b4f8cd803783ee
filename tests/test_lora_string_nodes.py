"""ComfyUI_JANodes' Lora2StackToString / LoraStringSplitter and RES4LYF's TextConcatenate,
against plain Python string handling of the documented formats."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def test_lora_stack_to_string_format():
    out, = node("Lora2StackToString")(ExecContext(), lora_high="hi.safetensors", strength_high=0.75,
                                      lora_low="none", strength_low=1)
    assert out == "hi.safetensors,0.75,none,1.0,"


@pytest.mark.parametrize("text", [
    "a/b.safetensors, 0.8 ,none,1.0,Girl walking, on a beach ",
    "none,1.0,None,1.0,",
    "x,,y",
    "",
    "only_one",
])
def test_splitter_against_plain_python(text):
    pieces = [p.strip() for p in text.split(",")]
    while len(pieces) < 4:
        pieces.append(None)
    names = ["" if (p is None or p.lower() == "none") else p for p in (pieces[0], pieces[2])]
    strengths = [float(p) if p else 0.0 for p in (pieces[1], pieces[3])]
    rest = ",".join(p for p in pieces[4:] if p is not None)  # stripped pieces, rejoined with plain commas
    out = node("LoraStringSplitter")(ExecContext(), input_string=text)
    assert out == (names[0], strengths[0], names[1], strengths[1], rest)


def test_stack_concatenate_split_round_trip():
    lora, = node("Lora2StackToString")(ExecContext(), lora_high="none", strength_high=1.0, lora_low="low.sft",
                                       strength_low=0.5)
    prompt = "Girl walking on a beach, enjoying the sun"
    joined, = node("TextConcatenate")(ExecContext(), text_1=lora, text_2=prompt)
    assert joined == lora + "" + prompt
    assert node("LoraStringSplitter")(ExecContext(), input_string=joined) == ("", 1.0, "low.sft", 0.5,
                                                                                 prompt.replace(", ", ","))


def test_splitter_names_a_bad_strength():
    with pytest.raises(NodeInputError) as err:
        node("LoraStringSplitter")(ExecContext(), input_string="a,strong,b,1")
    assert err.value.input_name == "input_string" and "'strong'" in str(err.value)


def test_text_concatenate_keeps_the_separator_with_an_empty_side():
    assert node("TextConcatenate")(ExecContext(), text_1="a", separator=" | ") == ("a" + " | " + "",)
    assert node("TextConcatenate")(ExecContext(), text_1="a", text_2="b", separator="\n") == ("a\nb",)
    with pytest.raises(NodeInputError):
        node("TextConcatenate")(ExecContext(), text_1=3, text_2="b")
