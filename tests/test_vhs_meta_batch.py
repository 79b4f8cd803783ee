"""VHS_BatchManager in the one-batch case wfrun runs: a selection that fits in
``frames_per_batch`` loads exactly as without the manager; one that needs a second batch is
refused, and so is a batch size that breaks the format's frame rule (the pack's check, its
suggestion worked by hand)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.media import video as mv
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    context = ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output")
    frames = (np.full((48, 64, 3), 10 + 12 * i, np.uint8).tobytes() for i in range(20))
    mv.encode(frames, context.input_dir / "clip.mp4", width=64, height=48, frame_rate=10,
              output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "1"])
    return context


def manager(ctx, size):
    return node("VHS_BatchManager")(ctx, frames_per_batch=size)[0]


def load(ctx, class_type="VHS_LoadVideoPath", **inputs):
    args = dict(video="clip.mp4", force_rate=0, custom_width=0, custom_height=0, frame_load_cap=0,
                skip_first_frames=0, select_every_nth=1, format="None")
    return node(class_type)(ctx, **{**args, **inputs})


@pytest.mark.parametrize("class_type", ["VHS_LoadVideoPath", "VHS_LoadVideo"])
@pytest.mark.parametrize("size, inputs", [(20, {}), (64, {}), (5, {"skip_first_frames": 3, "select_every_nth": 4})])
def test_one_batch_loads_as_without_the_manager(ctx, class_type, size, inputs):
    plain = load(ctx, class_type, **inputs)
    batched = load(ctx, class_type, meta_batch=manager(ctx, size), **inputs)
    assert torch.equal(batched[0], plain[0]) and batched[1:] == plain[1:]


def test_a_second_batch_is_refused_naming_meta_batch(ctx):
    with pytest.raises(NodeInputError) as err:
        load(ctx, meta_batch=manager(ctx, 19))  # 20 frames selected
    assert err.value.input_name == "meta_batch" and "20" in err.value.hint


@pytest.mark.parametrize("size, suggested", [(16, 17), (15, 13), (19, 17), (23, 21)])
def test_batch_size_against_the_wan_frame_rule_suggests_as_the_pack(ctx, size, suggested):
    # 4n+1: 16 -> error 3 > 2, up to 17; 15 -> error 2, down to 13; 19 -> 2, down to 17; 23 -> 2, down to 21
    with pytest.raises(NodeInputError) as err:
        load(ctx, format="Wan", meta_batch=manager(ctx, size))
    assert err.value.input_name == "meta_batch" and err.value.hint == f"try {suggested}"
    loaded = load(ctx, format="Wan", meta_batch=manager(ctx, 21))
    assert loaded[1] == 17 == len(loaded[0])  # 20 frames, one batch, cut to 4n+1 as without the manager


def test_a_value_that_is_no_manager_and_a_bad_size_are_named(ctx):
    with pytest.raises(NodeInputError) as err:
        load(ctx, meta_batch="16")
    assert err.value.input_name == "meta_batch"
    with pytest.raises(NodeInputError) as err:
        manager(ctx, 0)
    assert err.value.input_name == "frames_per_batch"


def test_video_combine_writes_the_one_batch_as_without_the_manager(ctx):
    images, count = load(ctx)[:2]
    inputs = dict(images=images, frame_rate=10, loop_count=0, pingpong=False, save_output=True, format="image/gif")
    (with_manager,) = node("VHS_VideoCombine")(ctx, filename_prefix="a", meta_batch=manager(ctx, 20), **inputs)
    (without,) = node("VHS_VideoCombine")(ctx, filename_prefix="b", **inputs)
    assert [p.rsplit("/", 1)[1] for p in with_manager[1]] == ["a_00001.png", "a_00001.gif"]
    gif_a, gif_b = with_manager[1][1], without[1][1]
    assert open(gif_a, "rb").read() == open(gif_b, "rb").read() and count == 20
    with pytest.raises(NodeInputError) as err:
        node("VHS_VideoCombine")(ctx, filename_prefix="c", meta_batch=3, **inputs)
    assert err.value.input_name == "meta_batch"
