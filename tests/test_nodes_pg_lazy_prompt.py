"""PG-Nodes' Lazy Prompt (mini): the texts the pack encodes, then core CLIPTextEncode of them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.pg_nodes.lazy_prompt import expand


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def clip(ctx):
    return node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan")[0]


def _encoded(ctx, clip, text):
    return node("CLIPTextEncode")(ctx, text=text, clip=clip)[0][0][0]


def test_encodes_the_stripped_texts(ctx, clip):
    pos, neg = node("PgLazyPromptMini")(dataclasses.replace(ctx, saved_date="2025-09-25"), clip=clip,
                                        positive="  Girl\n", negative="\tblurry, static  ")
    assert torch.equal(pos[0][0], _encoded(ctx, clip, "Girl"))
    assert torch.equal(neg[0][0], _encoded(ctx, clip, "blurry, static"))


def test_first_saves_also_give_raw(ctx, clip):
    out = node("PgLazyPromptMini")(dataclasses.replace(ctx, saved_date="2025-09-24"), clip=clip,
                                   positive="a fox ", negative=" snow")
    assert len(out) == 3 and out[2] == "a fox\n---\nsnow"
    out = node("PgLazyPromptMini")(dataclasses.replace(ctx, saved_date="2025-09-24"), clip=clip,
                                   positive="a fox", negative="")
    assert out[2] == "a fox"


@pytest.mark.parametrize("text,expected", [("a {red} fox", "a red fox"), ("a \\{x|y\\} fox", "a {x|y} fox"),
                                           ("{{deep}}", "deep"), ("open {a|b", "open {b"), ("no groups", "no groups")])
def test_expand_like_the_pack(text, expected):
    # worked by hand from the pack's expand_choices: one-part groups give their part, escapes the
    # next character, an unclosed group '{' and its last part
    assert expand(text) == expected


@pytest.mark.parametrize("text", ["a {red|blue} fox", "{a {b|c}}"])
def test_random_choices_are_refused(ctx, clip, text):
    with pytest.raises(NodeInputError) as err:
        node("PgLazyPromptMini")(ctx, clip=clip, positive=text, negative="")
    assert err.value.input_name == "positive"


def test_choice_syntax_in_the_negative_is_kept_as_written(ctx, clip):
    # the pack expands the positive text only
    _, neg = node("PgLazyPromptMini")(ctx, clip=clip, positive="fox", negative="{a|b}")
    assert torch.equal(neg[0][0], _encoded(ctx, clip, "{a|b}"))


def test_thousands_of_open_groups_stay_as_written_without_exhausting_the_stack():
    """A hostile text: 50,000 unclosed ``{`` (the pack's recursive parser would fail on the
    stack); each unclosed group stays as written, so the text comes back unchanged."""
    assert expand("{" * 50_000) == "{" * 50_000
    assert expand("{" * 20_000 + "x" + "}" * 20_000) == "x"
