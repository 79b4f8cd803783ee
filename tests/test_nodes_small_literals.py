"""Small literal and switch nodes of other packs: ComfyMath's CM_IntToFloat, comfyui-various'
JWIntegerToFloat and Crystools' ``Switch any``, against Python's float() and the packs'
choice rule written out here."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


@pytest.mark.parametrize("class_type,name", [("CM_IntToFloat", "a"), ("JWIntegerToFloat", "value")])
def test_int_to_float(class_type, name):
    assert node(class_type)(CTX, **{name: 8}) == (8.0,)
    assert isinstance(node(class_type)(CTX, **{name: 8})[0], float)
    assert node(class_type)(CTX) == (0.0,)  # the spec default
    for bad in ("8", 1.5, True):
        with pytest.raises(NodeInputError) as err:
            node(class_type)(CTX, **{name: bad})
        assert err.value.input_name == name


def test_switch_any_picks_by_boolean_any_type():
    image = torch.zeros(1, 2, 2, 3)
    switch = node("Switch any [Crystools]")
    assert switch(CTX, on_true=image, on_false="text", boolean=True)[0] is image
    assert switch(CTX, on_true=image, on_false="text", boolean=False) == ("text",)
    assert switch(CTX, on_true=1, on_false=2) == (1,)  # the spec's default: true
    with pytest.raises(NodeInputError) as err:
        switch(CTX, on_true=1, boolean=False)
    assert err.value.input_name == "on_false"
    with pytest.raises(NodeInputError) as err:
        switch(CTX, on_true=1, on_false=2, boolean="yes")
    assert err.value.input_name == "boolean"
