"""ComfyUI's string nodes: Python's string operations, with ComfyUI's mode names."""

from __future__ import annotations

import pytest

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

ctx = ExecContext()


def test_string_nodes_follow_pythons_operations():
    assert node("StringConcatenate")(ctx, string_a="a fox", string_b="in snow", delimiter=", ") == ("a fox, in snow",)
    assert node("StringSubstring")(ctx, string="wan video", start=4, end=-2) == ("vid",)
    assert node("StringLength")(ctx, string="wan") == (3,)
    assert node("CaseConverter")(ctx, string="a fox IN snow", mode="Title Case") == ("A Fox In Snow",)
    assert node("CaseConverter")(ctx, string="a fox", mode="Capitalize") == ("A fox",)
    assert node("StringTrim")(ctx, string="  x  ", mode="Left") == ("x  ",)
    assert node("StringReplace")(ctx, string="cat cat", find="cat", replace="fox") == ("fox fox",)
    assert node("StringContains")(ctx, string="Snow", substring="sn", case_sensitive=False) == (True,)
    assert node("StringContains")(ctx, string="Snow", substring="sn", case_sensitive=True) == (False,)
    assert node("StringCompare")(ctx, string_a="Wan22", string_b="wan", mode="Starts With",
                                 case_sensitive=False) == (True,)


def test_bad_and_oversized_strings_are_named():
    with pytest.raises(NodeInputError) as err:
        node("StringLength")(ctx, string=3)
    assert err.value.input_name == "string"
    with pytest.raises(NodeInputError) as err:
        node("StringReplace")(ctx, string="a" * 1000, find="", replace="b" * 2000)
    assert err.value.input_name == "replace"
