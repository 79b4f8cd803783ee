"""StringFunction|pysssss: append and replace, with and without tidy_tags."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def fn(**inputs):
    return node("StringFunction|pysssss")(CTX, **inputs)[0]


def test_append():
    assert fn(action="append", tidy_tags="yes", text_a="a cat", text_b="", text_c="sunset") == "a cat, sunset"
    assert fn(action="append", tidy_tags="no", text_a="a cat", text_b=" at ", text_c="sunset") == "a cat at sunset"
    assert fn(action="append", tidy_tags="no", text_a="x") == "x"


def test_tidy_tags():
    assert fn(action="append", tidy_tags="yes", text_a="a  cat ,", text_b=",, dog  ") == "a cat, dog"
    # "a  cat ,, ,, dog  " -> "a cat ,, ,, dog " -> "a cat,,,, dog " -> "a cat, dog " -> stripped
    assert fn(action="append", tidy_tags="yes", text_a="a ,,, b") == "a, b"


def test_replace_plain_and_regex():
    assert fn(action="replace", tidy_tags="no", text_a="a red car, red hat", text_b="red", text_c="blue") \
        == "a blue car, blue hat"
    assert fn(action="replace", tidy_tags="no", text_a="cat1 dog22", text_b=r"/(\w+?)(\d+)/", text_c=r"\2\1") \
        == "1cat 22dog"
    assert fn(action="replace", tidy_tags="no", text_a="a.b", text_b=".", text_c="!") == "a!b"  # not a regex


@pytest.mark.parametrize("inputs,name", [
    ({"action": "prepend"}, "action"),
    ({"tidy_tags": "maybe"}, "tidy_tags"),
    ({"text_b": "/(unclosed/"}, "text_b"),
    ({"text_a": 3}, "text_a"),
])
def test_bad_inputs(inputs, name):
    with pytest.raises(NodeInputError) as err:
        fn(**{"action": "replace", "tidy_tags": "no", "text_a": "x", "text_b": "y", **inputs})
    assert err.value.input_name == name
