"""KJNodes' constants, pass-throughs and SimpleCalculatorKJ."""

from __future__ import annotations

import math

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def calc(expression, **variables):
    return node("SimpleCalculatorKJ")(CTX, expression=expression, **variables)


def test_constants():
    assert node("BOOLConstant")(CTX) == (True,)  # the spec default
    assert node("BOOLConstant")(CTX, value=False) == (False,)
    assert node("FloatConstant")(CTX, value=0.1234567891) == (0.123457,)  # rounded to 6 decimals
    assert node("FloatConstant")(CTX, value=3) == (3.0,)
    assert node("StringConstant")(CTX, string="a cat") == ("a cat",)
    assert node("StringConstantMultiline")(CTX, string="  a\ncat \n") == ("acat",)  # strip_newlines default on
    assert node("StringConstantMultiline")(CTX, string=" a\ncat", strip_newlines=False) == (" a\ncat",)


@pytest.mark.parametrize("class_type,inputs,name", [
    ("BOOLConstant", {"value": "yes"}, "value"),
    ("FloatConstant", {"value": "1.5"}, "value"),
    ("FloatConstant", {"value": True}, "value"),
    ("StringConstantMultiline", {"string": 5}, "string"),
])
def test_constants_bad_inputs(class_type, inputs, name):
    with pytest.raises(NodeInputError) as err:
        node(class_type)(CTX, **inputs)
    assert err.value.input_name == name


def test_pass_throughs_hand_on_the_same_object():
    image, model = torch.zeros(1, 2, 2, 3), object()
    assert node("ImagePass")(CTX, image=image)[0] is image
    assert node("ModelPassThrough")(CTX, model=model)[0] is model
    assert node("ImagePass")(CTX) == (None,)  # unconnected, as the pack


@pytest.mark.parametrize("expression,variables,expected", [
    ("a + b", {"variables.a": 2, "variables.b": 3}, (5.0, 5, True)),
    ("a / b", {"variables.a": 7, "variables.b": 2}, (3.5, 3, True)),
    ("a // b * c", {"variables.a": 7, "variables.b": 2, "variables.c": 4}, (12.0, 12, True)),
    ("-a ** 2", {"variables.a": 3}, (-9.0, -9, True)),
    ("1 << 4 >> 2", {}, (4.0, 4, True)),
    ("a < b < c", {"variables.a": 1, "variables.b": 3, "variables.c": 2}, (0.0, 0, False)),
    ("a and b", {"variables.a": 5, "variables.b": 7}, (1.0, 1, True)),  # a boolean, not 7 as in Python
    ("a or b", {"variables.a": 0, "variables.b": 0.0}, (0.0, 0, False)),
    ("not a", {"variables.a": 0}, (1.0, 1, True)),
    ("max(a, 10) + floor(2.7) + round(pi, 2)", {"variables.a": 4}, (15.14, 15, True)),
    ("sqrt(16) + log10(100) + exp(0)", {}, (7.0, 7, True)),
    ("euler", {}, (math.e, 2, True)),
    ("a * 2", {"a": 1.25}, (2.5, 2, True)),  # files saved before the autogrow inputs
    ("a - b", {"variables.a": True, "variables.b": 0.5}, (0.5, 0, True)),
])
def test_calculator(expression, variables, expected):
    result = calc(expression, **variables)
    assert result[0] == pytest.approx(expected[0]) and result[1:] == expected[1:]
    assert isinstance(result[1], int) and isinstance(result[2], bool)


@pytest.mark.parametrize("expression,variables", [
    ("a / b", {"variables.a": 1, "variables.b": 0}),   # ZeroDivisionError
    ("a + z", {"variables.a": 1}),                     # unknown name
    ("a & 1", {"variables.a": 3}),                     # bitwise and is not in the pack's list
    ("__import__('os')", {}),                          # not a listed function
    ("a.real", {"variables.a": 1}),                    # attributes
    ("log(-1)", {}),                                   # math domain error
    ("a +", {"variables.a": 1}),                       # syntax error
    ("'text'", {}),                                    # strings (refused here; the pack's float() fails too)
])
def test_calculator_errors_give_zeros_as_the_pack(expression, variables):
    assert calc(expression, **variables) == (0.0, 0, False)


@pytest.mark.parametrize("expression", ["9 ** 9 ** 9", "pow(2, 100000)", "1 << 100000", "2 ** 4000 * 2 ** 4000"])
def test_calculator_refuses_runaway_numbers(expression):
    with pytest.raises(NodeInputError) as err:
        calc(expression)
    assert err.value.input_name == "expression"


def test_calculator_bad_variable_is_named():
    with pytest.raises(NodeInputError) as err:
        calc("a + b", **{"variables.a": 1, "variables.b": "2"})
    assert err.value.input_name == "variables.b"
