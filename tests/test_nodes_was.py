"""WAS Node Suite's Text Multiline and Text Concatenate."""

from __future__ import annotations

import socket
import time

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_multiline_drops_comment_lines():
    text = "a castle\n  # a note\nat dusk\n#last"
    assert node("Text Multiline")(CTX, text=text) == ("a castle\nat dusk",)
    assert node("Text Multiline")(CTX, text="plain") == ("plain",)


def test_multiline_tokens():
    out, = node("Text Multiline")(CTX, text="[hostname]/[cuda_device]/[time(%Y)]/[custom]")
    host, device, year, custom = out.split("/")
    assert host == socket.gethostname() and device == "cpu"
    assert year == time.strftime("%Y") and custom == "[custom]"
    stamp, = node("Text Multiline")(CTX, text="[time]")
    assert abs(int(stamp) - time.time()) < 5


def test_concatenate():
    concat = node("Text Concatenate")
    assert concat(CTX, delimiter=", ", clean_whitespace="true", text_b=" b ", text_a="a", text_c="  ") == ("a, b",)
    assert concat(CTX, delimiter="-", clean_whitespace="false", text_a="a", text_c="  ") == ("a-  ",)
    assert concat(CTX, delimiter="\\n", clean_whitespace="true", text_a="a", text_b="b") == ("a\nb",)
    assert concat(CTX, delimiter=" ", clean_whitespace="true") == ("",)


@pytest.mark.parametrize("inputs,name", [
    ({"clean_whitespace": "yes"}, "clean_whitespace"),
    ({"delimiter": 1}, "delimiter"),
])
def test_concatenate_bad_inputs(inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("Text Concatenate")(CTX, **{"delimiter": " ", "clean_whitespace": "true", **inputs})
    assert err.value.input_name == name
    with pytest.raises(NodeInputError) as err:
        node("Text Multiline")(CTX, text=None)
    assert err.value.input_name == "text"
