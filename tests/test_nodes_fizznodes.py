"""FizzNodes' BatchPromptSchedule / BatchPromptScheduleLatentInput: the schedule text rules,
keyframe weights and the conditioning mix, checked against values worked out by hand from
the pack's code (BatchFuncs.py / ScheduleFuncs.py at 7d6ea60)."""

from __future__ import annotations

import math

import pytest
import torch

from wfrun.engine.executors import load_packs
from wfrun.nodes.executor import ExecContext, NodeInputError, registered
from wfrun.packs.fizznodes.nodes import _check_pooled, _Settings, batch_conditioning, mix, pad_tokens
from wfrun.packs.fizznodes.schedule import ScheduleError, interpolate, parse_schedule, split_prompts

load_packs()
PW0 = {"pw_a": 0, "pw_b": 0, "pw_c": 0, "pw_d": 0}


def test_schedule_text_is_read_as_json_pairs_with_newlines_removed_and_a_trailing_comma():
    text = '"0" :"a cat",\n"4" :"a dog --neg blurry",\n'
    assert parse_schedule(text) == {"0": "a cat", "4": "a dog --neg blurry"}
    with pytest.raises(ScheduleError) as err:
        parse_schedule('"0": a cat')
    assert err.value.input_name == "text"


def test_pre_and_app_text_wrap_each_prompt_and_neg_splits():
    pos, neg = split_prompts({"0": "cat --neg ugly"}, "PRE --neg NPRE", "APP")
    assert pos == {"0": "PRE  cat  APP"}
    assert neg == {"0": " NPRE  ugly "}
    pos, _ = split_prompts({"0": "frame"}, "", "v10")
    assert pos == {"0": " frame v1"}  # the pack cuts one trailing "0"


def test_keyframe_weights_fall_linearly_from_each_key_to_the_next():
    s = interpolate({"0": "a", "4": "b"}, 6, 0, 6, PW0)
    assert s.current == ["a", "a", "a", "a", "b", "b"]
    assert s.next == ["b", "b", "b", "b", "b", "b"]
    # 1 - (f - 0) / 4 for frames 0..3; from key 4 to the added key 6: 1 - (f - 4) / 2
    assert s.weight == [1.0, 0.75, 0.5, 0.25, 1.0, 0.5]


def test_missing_first_key_is_added_and_unevaluated_frames_keep_their_spaces():
    s = interpolate({"2": " x "}, 4, 0, 0, PW0)  # end_frame 0: nothing evaluated (nor stripped)
    assert s.current == [" x ", " x ", " x ", " x "]
    assert s.weight == [1.0, 0.5, 1.0, 0.5]
    evaluated = interpolate({"2": " x "}, 4, 1, 3, PW0)
    assert evaluated.current == [" x ", "x", "x", " x "]


def test_plain_number_expressions_are_read_and_formulas_refused():
    s = interpolate({"0": "w `pw_a`", "3": "n `2.50`"}, 3, 0, 3, {**PW0, "pw_a": 0.5})
    assert s.current == ["w 0.5", "w 0.5", "w 0.5"] and s.next == ["n 2.5"] * 3
    with pytest.raises(ScheduleError, match="formula"):
        interpolate({"0": "x `t*2`"}, 2, 0, 2, PW0)
    with pytest.raises(ScheduleError, match="formula"):
        interpolate({"max_f/2": "x"}, 2, 0, 2, PW0)


def test_padding_and_mix_follow_add_weighted():
    short = torch.ones(1, 2, 3)
    padded = pad_tokens(short, 5)  # 3 rows missing: 1 before, 2 after
    assert padded[0, :, 0].tolist() == [0, 1, 1, 0, 0]
    a, b = torch.full((1, 4, 3), 2.0), torch.full((1, 2, 3), 10.0)
    out = mix(a, b, 0.25, 4)
    assert out[0, :, 0].tolist() == [0.5 + 7.5 * 0, 0.5 + 7.5, 0.5 + 7.5, 0.5]


def test_batch_conditioning_mixes_each_frame_and_corrects_end_frame_zero():
    table = {"a": (torch.full((1, 2, 3), 1.0), torch.full((1, 4), 1.0)),
             "b": (torch.full((1, 2, 3), 3.0), torch.full((1, 4), 3.0))}
    s = interpolate({"0": "a", "2": "b"}, 3, 0, 3, PW0)
    s.current = [c.strip() for c in s.current]
    s.next = [n.strip() for n in s.next]
    settings = _Settings(0, 0, 3)
    ((cond, opts),) = batch_conditioning(s, settings, lambda text: table[text])
    assert settings.end == 3
    # frame 0: a*1 + b*0; frame 1: a*.5 + b*.5; frame 2 (key b to the added key 3): b
    assert cond[:, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert opts["pooled_output"][:, 0].tolist() == [3.0, 3.0, 3.0]  # the next prompt's pooled output


def test_clip_without_pooled_output_is_refused_as_the_pack_fails():
    with pytest.raises(NodeInputError) as err:
        _check_pooled(lambda text: (torch.zeros(1, 2, 3), None))
    assert err.value.input_name == "clip" and "pooled" in str(err.value)


def test_node_refuses_formula_keys_naming_text():
    fn = registered("BatchPromptSchedule")
    with pytest.raises(NodeInputError) as err:
        fn(ExecContext(), text='"0": "a", "max_f": "b"', clip=None, max_frames=4, print_output=False, start_frame=0, end_frame=0)
    assert err.value.input_name in ("text", "clip")


def test_latent_input_counts_frames_from_the_latent_batch():
    fn = registered("BatchPromptScheduleLatentInput")
    with pytest.raises(NodeInputError) as err:
        fn(ExecContext(), text='"0": "a"', clip=None, num_latents={"samples": torch.zeros(3, 4, 8, 8),
                                                                   "batch_index": [0, 1, 2]},
           print_output=False, start_frame=0, end_frame=0)
    assert err.value.input_name == "num_latents"
    assert not math.isnan(interpolate({"0": "a"}, 3, 0, 3, PW0).weight[2])
