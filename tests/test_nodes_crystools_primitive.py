"""Crystools' Primitive string multiline gives its text back as written (the pack's execute)."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


@pytest.mark.parametrize("text", ["", "  a fox\n\nin the snow  ", "inputs.string"])
def test_gives_the_string_unchanged(text):
    assert node("Primitive string multiline [Crystools]")(CTX, string=text) == (text,)


def test_default_is_empty():
    assert node("Primitive string multiline [Crystools]")(CTX) == ("",)


def test_not_a_string():
    with pytest.raises(NodeInputError) as err:
        node("Primitive string multiline [Crystools]")(CTX, string=3)
    assert err.value.input_name == "string"
