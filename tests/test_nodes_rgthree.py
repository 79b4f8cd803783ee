"""rgthree's Seed and Any Switch."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.rgthree.nodes import MAX_RANDOM_SEED

CTX = ExecContext()


def test_seed_passes_a_fixed_seed():
    assert node("Seed (rgthree)")(CTX, seed=930286388473564) == (930286388473564,)
    assert node("Seed (rgthree)")(CTX) == (0,)  # the spec default


@pytest.mark.parametrize("special", [-1, -2, -3])
def test_special_seeds_draw_a_random_one(special):
    drawn = {node("Seed (rgthree)")(CTX, seed=special)[0] for _ in range(5)}
    assert all(1 <= s <= MAX_RANDOM_SEED for s in drawn)
    assert len(drawn) > 1  # 5 draws out of 2**50 never collide in practice


def test_other_negative_seeds_pass():
    assert node("Seed (rgthree)")(CTX, seed=-4) == (-4,)


@pytest.mark.parametrize("seed", ["12", 1.5, True])
def test_bad_seed(seed):
    with pytest.raises(NodeInputError) as err:
        node("Seed (rgthree)")(CTX, seed=seed)
    assert err.value.input_name == "seed"


def test_any_switch_takes_the_first_present_value():
    switch = node("Any Switch (rgthree)")
    assert switch(CTX, any_02="b", any_03="c") == ("b",)
    assert switch(CTX, any_03="c", any_01=None, any_02="b") == ("b",)  # by name, not by argument order
    assert switch(CTX, any_01=0) == (0,)  # a falsy value still counts
    assert switch(CTX, other="x") == (None,)
    assert switch(CTX) == (None,)
