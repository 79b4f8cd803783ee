"""Easy-Use's mathInt, mathFloat, convertAnything and promptReplace against Python's own
operators written out here."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


@pytest.mark.parametrize("op,expected", [("add", 9), ("subtract", 5), ("multiply", 14), ("divide", 3), ("modulo", 1),
                                         ("power", 49)])
def test_math_int(op, expected):
    assert node("easy mathInt")(CTX, a=7, b=2, operation=op) == (expected,)
    assert node("easy mathInt")(CTX, a=-7, b=2, operation="divide") == (-4,)  # floor division


@pytest.mark.parametrize("op,expected", [("add", round(81 + 4.000000000000001, 3)), ("divide", 20.25),
                                         ("multiply", round(81 * 16.000000000000004, 3)), ("modulo", 1.0),
                                         ("power", round(81 ** 0.5, 3))])
def test_math_float_rounds_to_three_decimals(op, expected):
    b = {"add": 4.000000000000001, "divide": 4.0, "multiply": 16.000000000000004, "modulo": 4.0, "power": 0.5}[op]
    assert node("easy mathFloat")(CTX, a=81.0, b=b, operation=op) == (expected,)
    assert node("easy mathFloat")(CTX, a=1.0, b=3.0, operation="divide") == (0.333,)


def test_math_errors_are_clear():
    with pytest.raises(NodeInputError):
        node("easy mathInt")(CTX, a=1, b=0, operation="divide")
    with pytest.raises(NodeInputError):
        node("easy mathInt")(CTX, a=2, b=10 ** 6, operation="power")
    with pytest.raises(NodeInputError):
        node("easy mathFloat")(CTX, a=-8.0, b=0.5, operation="power")


def test_convert_anything():
    convert = node("easy convertAnything")
    assert convert(CTX, output_type="int", **{"*": 20.25}) == (20,)
    assert convert(CTX, output_type="string", **{"*": 3}) == ("3",)
    assert convert(CTX, output_type="float", **{"*": "2.5"}) == (2.5,)
    assert convert(CTX, output_type="boolean", **{"*": 0}) == (False,)
    with pytest.raises(NodeInputError):
        convert(CTX, output_type="int", **{"*": "2.5"})


def test_prompt_replace_in_order():
    out = node("easy promptReplace")(CTX, prompt="a photo, an image, a painting", find1="photo", replace1="video",
                                     find2="image", replace2="video", find3="painting", replace3="video")
    assert out == ("a video, an video, a video",)
    assert node("easy promptReplace")(CTX, prompt="ab", find1="a", replace1="b", find2="bb", replace2="c") == ("c",)
    assert node("easy promptReplace")(CTX, prompt="ab") == ("ab",)  # empty finds replace "" with "": unchanged


def test_lora_names_passes_the_chosen_name():
    assert node("easy loraNames")(CTX, lora_name="wan\\style.safetensors") == ("wan\\style.safetensors",)
    with pytest.raises(NodeInputError):
        node("easy loraNames")(CTX, lora_name="")
