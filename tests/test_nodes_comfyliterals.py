"""ComfyLiterals' Int, Float and String: Python's int()/float() of the typed text."""

from __future__ import annotations

import math

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


@pytest.mark.parametrize("text,expected", [("2", 2), (" -16 ", -16), ("1_000", 1000), (7, 7)])
def test_int(text, expected):
    value, = node("Int")(CTX, Number=text)
    assert value == expected and type(value) is int


@pytest.mark.parametrize("text,expected", [("1.5", 1.5), ("2", 2.0), ("1e3", 1000.0), (" -0.25", -0.25)])
def test_float(text, expected):
    value, = node("Float")(CTX, Number=text)
    assert value == expected and type(value) is float
    assert math.isinf(node("Float")(CTX, Number="inf")[0])


@pytest.mark.parametrize("class_type,text", [("Int", "1.5"), ("Int", ""), ("Int", "two"), ("Float", "1,5"),
                                             ("Int", True), ("Float", None)])
def test_bad_numbers_name_the_input(class_type, text):
    with pytest.raises(NodeInputError) as err:
        node(class_type)(CTX, Number=text)
    assert err.value.input_name == "Number"


def test_string():
    assert node("String")(CTX, String="a\nb") == ("a\nb",)
    with pytest.raises(NodeInputError) as err:
        node("String")(CTX, String=3)
    assert err.value.input_name == "String"
