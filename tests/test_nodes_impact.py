"""Impact Pack's ImageListToImageBatch and ImpactWildcardProcessor (plain text)."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def flat(n, level, h=4, w=4):
    return torch.full((n, h, w, 3), level, dtype=torch.float32)


def test_a_single_image_passes_unchanged():
    image = flat(3, 0.5)  # an INPUT_IS_LIST node: a plain IMAGE arrives as a list of one
    assert node("ImageListToImageBatch")(CTX, images=[image])[0] is image


def test_a_list_is_joined_and_resized_to_the_first():
    out, = node("ImageListToImageBatch")(CTX, images=[flat(2, 0.25), flat(1, 0.75, h=8, w=8), flat(1, 1.0)])
    assert out.shape == (4, 4, 4, 3)
    # lanczos keeps a flat level (through Pillow's 8 bits: 0.75 -> 191/255)
    assert [float(f.mean()) for f in out] == pytest.approx([0.25, 0.25, 0.75, 1.0], abs=1 / 255)


@pytest.mark.parametrize("images", [[], torch.zeros(2, 2), [flat(1, 0.0), "x"], flat(1, 0.0)])
def test_bad_images(images):
    with pytest.raises(NodeInputError) as err:
        node("ImageListToImageBatch")(CTX, images=images)
    assert err.value.input_name == "images"


def wildcard(**inputs):
    return node("ImpactWildcardProcessor")(CTX, **{"wildcard_text": "", "populated_text": "", **inputs})[0]


def test_populate_mode_uses_the_wildcard_text():
    assert wildcard(wildcard_text="a cat", populated_text="stale", mode=True) == "a cat"
    assert wildcard(wildcard_text="a cat", populated_text="kept", mode=False) == "kept"


@pytest.mark.parametrize("mode,expected", [("populate", "a cat"), ("fixed", "kept"), ("reproduce", "kept")])
def test_the_combo_mode_of_later_versions(mode, expected):
    assert wildcard(wildcard_text="a cat", populated_text="kept", mode=mode) == expected


def test_an_unknown_mode_is_refused():
    with pytest.raises(NodeInputError) as err:
        wildcard(wildcard_text="a cat", populated_text="kept", mode="Populate")
    assert err.value.input_name == "mode"


def test_comment_lines_as_impact():
    assert wildcard(wildcard_text="a cat\n# note\nin a hat\nsmiling", mode=True) == "a cat in a hat\nsmiling"
    # a comment before every kept line: the pack's flag stays set, so line 2 joins line 1
    assert wildcard(wildcard_text="# note\na cat\nin a hat\nsmiling", mode=True) == "a cat in a hat\nsmiling"


@pytest.mark.parametrize("mode,name,text", [(True, "wildcard_text", "a {red|blue} car"),
                                            (True, "wildcard_text", "a __colors__ car"),
                                            (False, "populated_text", "{x}"),
                                            (True, "wildcard_text", None)])
def test_wildcards_are_refused_on_the_input_holding_them(mode, name, text):
    with pytest.raises(NodeInputError) as err:
        wildcard(**{name: text}, mode=mode)
    assert err.value.input_name == name


# ------------------------------------------------------------------ logic values, StringSelector


def test_impact_int_float_pass_the_value():
    assert node("ImpactInt")(CTX, value=480) == (480,)
    assert node("ImpactFloat")(CTX, value=6) == (6.0,)
    assert node("ImpactFloat")(CTX) == (1.0,)  # the spec's default
    for class_type, value in (("ImpactInt", "10"), ("ImpactInt", 1.5), ("ImpactFloat", None)):
        with pytest.raises(NodeInputError) as err:
            node(class_type)(CTX, value=value)
        assert err.value.input_name == "value"


def test_impact_min_max():
    assert node("ImpactMinMax")(CTX, mode=True, a=3, b=8) == (8,)
    assert node("ImpactMinMax")(CTX, mode=False, a=3, b=8) == (3,)
    assert node("ImpactMinMax")(CTX, mode=False, a=2.5, b=8) == (2.5,)
    with pytest.raises(NodeInputError) as err:
        node("ImpactMinMax")(CTX, mode=True, a=3, b="x")
    assert err.value.input_name == "b"
    with pytest.raises(NodeInputError) as err:
        node("ImpactMinMax")(CTX, mode=True, b=1)
    assert err.value.input_name == "a"


def test_string_selector_single_lines_wrap_around():
    select = node("ImpactStringSelector")
    assert select(CTX, strings="a\nb\nc", multiline=False, select=1) == ("b",)
    assert select(CTX, strings="a\nb\nc", multiline=False, select=4) == ("b",)  # 4 % 3
    assert select(CTX, strings="", multiline=False, select=7) == ("",)


def test_string_selector_multiline_items_start_at_hash_lines():
    text = "intro\n#first\nline two\n#second\n  tail  "
    select = node("ImpactStringSelector")
    # items: "intro", "#first\nline two", "#second\n  tail" (stripped); the leading "#" dropped
    assert select(CTX, strings=text, multiline=True, select=0) == ("intro",)
    assert select(CTX, strings=text, multiline=True, select=1) == ("first\nline two",)
    assert select(CTX, strings=text, multiline=True, select=5) == ("second\n  tail",)
    with pytest.raises(NodeInputError) as err:
        select(CTX, strings=None, multiline=False, select=0)
    assert err.value.input_name == "strings"
    with pytest.raises(NodeInputError) as err:
        select(CTX, strings="a", multiline=False, select="1")
    assert err.value.input_name == "select"
