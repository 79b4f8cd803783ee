"""ComfyUI_essentials' utilities (misc.py, conditioning.py): the number widgets and sliders
worked by hand, SimpleMath+ on two expressions and by condition, comparisons, batch counts,
the latent mask remover and ConditioningCombineMultiple+."""

from __future__ import annotations

import logging

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_widgets_and_sliders():
    assert node("SimpleMathFloat+")(CTX, value=2) == (2.0,)
    assert node("SimpleMathPercent+")(CTX, value=0.25) == (0.25,)
    assert node("SimpleMathInt+")(CTX, value=7) == (7,)
    assert node("SimpleMathBoolean+")(CTX, value=True) == (True,)
    assert node("SimpleMathSlider+")(CTX, value=0.25, min=10.0, max=20.0, rounding=0) == (12.5, 12)
    assert node("SimpleMathSlider+")(CTX, value=0.333, min=0.0, max=1.0, rounding=2) == (0.33, 0)
    assert node("SimpleMathSliderLowRes+")(CTX, value=3, min=-1.0, max=1.0, rounding=1) == (-0.4, 0)
    with pytest.raises(NodeInputError):
        node("SimpleMathInt+")(CTX, value=1.5)


def test_dual_and_condition_run_simple_math():
    assert node("SimpleMathDual+")(CTX, value_1="a*2", value_2="b+c", a=3, b=1.5, c=1) == (6, 6, 2, 2.5)
    image = torch.zeros(2, 48, 64, 3)
    assert node("SimpleMathCondition+")(CTX, evaluate=True, on_true="a[2]/2", on_false="0", a=image) == (32, 32.0)
    assert node("SimpleMathCondition+")(CTX, evaluate=0, on_true="1", on_false="a[1]", a=image) == (48, 48)
    with pytest.raises(NodeInputError) as err:
        node("SimpleMathDual+")(CTX, value_1="1", value_2="__import__('os')")
    assert err.value.input_name == "value_2"


@pytest.mark.parametrize("op,expected", [("==", False), ("!=", True), ("<", True), ("<=", True), (">", False),
                                         (">=", False)])
def test_comparison(op, expected):
    assert node("SimpleComparison+")(CTX, a=2, b=3.5, comparison=op) == (expected,)


def test_comparison_refuses_tensors_and_mixed_kinds():
    with pytest.raises(NodeInputError):
        node("SimpleComparison+")(CTX, a=torch.ones(2), b=1, comparison="==")
    with pytest.raises(NodeInputError):
        node("SimpleComparison+")(CTX, a="x", b=1, comparison="<")


def test_batch_count_latent_mask_and_conditioning():
    assert node("BatchCount+")(CTX, batch=torch.zeros(5, 2, 2, 3)) == (5,)
    assert node("BatchCount+")(CTX, batch={"samples": torch.zeros(3, 16, 1, 4, 4)}) == (3,)
    assert node("BatchCount+")(CTX, batch=[1, 2]) == (2,)
    assert node("BatchCount+")(CTX, batch=7) == (0,)
    latent = {"samples": torch.zeros(1, 16, 1, 4, 4), "noise_mask": torch.ones(1, 4, 4)}
    (out,) = node("RemoveLatentMask+")(CTX, samples=latent)
    assert set(out) == {"samples"} and "noise_mask" in latent
    c1, c2, c3 = [[torch.zeros(1), {"a": 1}]], [[torch.ones(1), {}]], [[torch.full((1,), 2.0), {}]]
    (joined,) = node("ConditioningCombineMultiple+")(CTX, conditioning_1=c1, conditioning_2=c2, conditioning_4=c3)
    assert joined == c1 + c2 + c3


def test_console_lines_go_to_the_log(caplog):
    with caplog.at_level(logging.WARNING):
        assert node("ConsoleDebug+")(CTX, value=42) == ()
        assert node("DebugTensorShape+")(CTX, tensor={"samples": torch.zeros(1, 2), "x": [torch.zeros(3)]}) == ()
    assert "Value: 42" in caplog.text and "[[1, 2], [3]]" in caplog.text


def test_transition_mask_by_hand():
    (slide,) = node("TransitionMask+")(CTX, width=8, height=2, frames=6, start_frame=1, end_frame=5,
                                       transition_type="horizontal slide", timing_function="linear")
    covered = [int(f[0].sum()) for f in slide]  # frames 1..4: progress i/3 of 8 columns, rounded
    assert covered == [0, 0, round(8 / 3), round(16 / 3), 8, 8]
    (fade,) = node("TransitionMask+")(CTX, width=2, height=2, frames=3, start_frame=0, end_frame=3,
                                      transition_type="fade", timing_function="in")
    assert fade[:, 0, 0].tolist() == [0.0, 0.25, 1.0]
    (circle,) = node("TransitionMask+")(CTX, width=5, height=5, frames=2, start_frame=0, end_frame=2,
                                        transition_type="circle", timing_function="linear")
    assert circle[0].sum() == 1 and circle[1].sum() == 25  # a point at the centre, then all
    with pytest.raises(NodeInputError):
        node("TransitionMask+")(CTX, width=2, height=2, frames=3, start_frame=0, end_frame=1,
                                transition_type="fade", timing_function="in")


def test_inject_latent_noise_is_the_packs_global_seed_draw():
    state = torch.get_rng_state()
    try:
        samples = torch.rand(1, 16, 3, 2, 2)
        (out,) = node("InjectLatentNoise+")(CTX, latent={"samples": samples}, noise_seed=5, noise_strength=0.5,
                                            normalize="true")
        torch.manual_seed(5)
        ref = samples + (torch.randn_like(samples) * samples.std() + samples.mean()) * 0.5
        torch.testing.assert_close(out["samples"], ref)
    finally:
        torch.set_rng_state(state)
