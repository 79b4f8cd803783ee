"""JPS Nodes' Text Prompt, Image Switch and Get Image Size."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
IMAGES = {f"img_{i}": torch.full((1, 2, 2, 3), i / 10) for i in range(1, 4)}


@pytest.mark.parametrize("select,chosen", [(1, "img_1"), (2, "img_2"), (3, "img_3"), (0, "img_1"), (7, "img_1")])
def test_image_switch(select, chosen):
    assert node("Image Switch (JPS)")(CTX, select=select, **IMAGES)[0] is IMAGES[chosen]


def test_image_switch_unconnected_choice_gives_none():
    assert node("Image Switch (JPS)")(CTX, select=4, **IMAGES) == (None,)


@pytest.mark.parametrize("inputs,name", [({"select": 1, "img_2": IMAGES["img_2"]}, "img_1"),
                                         ({"select": "2", **IMAGES}, "select")])
def test_image_switch_bad_inputs(inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("Image Switch (JPS)")(CTX, **inputs)
    assert err.value.input_name == name


def test_text_prompt_and_size():
    assert node("Text Prompt (JPS)")(CTX, text="a fox\nin snow") == ("a fox\nin snow",)
    assert node("Get Image Size (JPS)")(CTX, image=torch.zeros(3, 48, 80, 3)) == (80, 48)
    for class_type, inputs, name in (("Text Prompt (JPS)", {"text": None}, "text"),
                                     ("Get Image Size (JPS)", {"image": torch.zeros(4, 4)}, "image")):
        with pytest.raises(NodeInputError) as err:
            node(class_type)(CTX, **inputs)
        assert err.value.input_name == name


@pytest.mark.parametrize("w,h,f", [(480, 832, 1), (480, 832, 2), (1024, 576, 3)])
def test_resolution_multiply(w, h, f):
    # the pack: int(width) * int(factor), int(height) * int(factor)
    assert node("Resolution Multiply (JPS)")(CTX, width=w, height=h, factor=f) == (w * f, h * f)


def test_resolution_multiply_bad_factor():
    with pytest.raises(NodeInputError) as err:
        node("Resolution Multiply (JPS)")(CTX, width=480, height=832, factor="2")
    assert err.value.input_name == "factor"
