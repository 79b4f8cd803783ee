"""comfyui-wan-vace-prep: control videos, masks and leftover clips, checked frame by frame on
clips whose every frame carries its own index (so each output frame says where it came from),
against the layout the pack's docs and code describe; and the smoke cap that keeps a join
within the short stand-in clips."""

from __future__ import annotations

import pytest
import torch

from wfrun.engine.executors import get_executor
from wfrun.nodes.executor import ExecContext, NodeInputError

GREY = -1  # marks a generated (grey, 0.5) frame in the index lists below


def clip(frames: int, offset: int = 0, size: int = 32) -> torch.Tensor:
    """Frame i holds the value (offset + i) / 1000 everywhere."""
    values = (torch.arange(frames, dtype=torch.float32) + offset) / 1000
    return values.view(-1, 1, 1, 1).expand(frames, size, size + 16, 3).clone()


def indices(video: torch.Tensor, offset: int = 0) -> list[int]:
    """Which source frame each frame is (GREY for 0.5)."""
    out = []
    for frame in video:
        value = float(frame[0, 0, 0])
        out.append(GREY if value == 0.5 else round(value * 1000) - offset)
    return out


def mask_rows(mask: torch.Tensor) -> list[int]:
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    return [int(m[0, 0]) for m in mask]


def run(name: str, **inputs):
    return get_executor(name)(ExecContext(), **inputs)


def test_extend_from_the_last_frame():
    video = clip(30)
    control, mask, width, height, length, start, ctx_frames, new = run(
        "WanVACEExtend", video=video, extend_from_idx=-1, context_frames=8, new_frames=13)
    # frame 29 is the index; the 8 frames before it are the context, then 13 grey frames
    assert indices(control) == list(range(21, 29)) + [GREY] * 13
    assert mask_rows(mask) == [0] * 8 + [1] * 13
    assert indices(start) == list(range(0, 21))
    assert (width, height, length, ctx_frames, new) == (48, 32, 21, 8, 13)
    assert control.shape[1:] == video.shape[1:] and mask.shape == (21, 32, 48)


def test_extend_from_a_positive_index_and_the_first_versions_crossfade():
    video = clip(20)
    control, mask, *_rest = run("WanVACEExtend", video=video, extend_from_idx=10, context_frames=4, new_frames=5)
    assert indices(control) == [6, 7, 8, 9] + [GREY] * 5
    start = _rest[3]
    assert indices(start) == list(range(6))
    crossfaded = run("WanVACEExtend", video=video, extend_from_idx=10, context_frames=4, new_frames=5,
                     crossfade_mode=True)[5]
    assert indices(crossfaded) == list(range(10))


@pytest.mark.parametrize("inputs,name", [
    ({"new_frames": 12}, "new_frames"),
    ({"extend_from_idx": 30}, "extend_from_idx"),
    ({"extend_from_idx": -31}, "extend_from_idx"),
    ({"extend_from_idx": 3, "context_frames": 8}, "context_frames"),
    ({"video": clip(30, size=24)}, "video"),
])
def test_extend_refusals_name_the_input(inputs, name):
    args = dict(video=clip(30), extend_from_idx=-1, context_frames=8, new_frames=13)
    args.update(inputs)
    with pytest.raises(NodeInputError) as err:
        run("WanVACEExtend", **args)
    assert err.value.input_name == name


def test_join_with_replaced_edges():
    one, two = clip(40), clip(30, offset=600)
    out = run("WanVACEPrep", video_1=one, video_2=two, context_frames=4, replace_frames=8, new_frames=16)
    control, mask, width, height, length, start, end, ctx_frames, replace, new = out
    grey = 2 * 8 + 16 + 1
    # video_1's 4 frames before its last 8, the grey run, video_2's 4 frames after its first 8
    assert indices(control[:4]) == [28, 29, 30, 31]
    assert indices(control[4:4 + grey]) == [GREY] * grey
    assert indices(control[4 + grey:], offset=600) == [8, 9, 10, 11]
    assert mask_rows(mask) == [0] * 4 + [1] * grey + [0] * 4
    assert indices(start) == list(range(28)) and indices(end, offset=600) == list(range(12, 30))
    assert (width, height, length, ctx_frames, replace, new) == (48, 32, 4 + grey + 4, 4, 8, 16)


def test_join_without_replaced_frames_and_the_first_versions():
    one, two = clip(20), clip(20, offset=600)
    control, mask, *_ = run("WanVACEPrep", video_1=one, video_2=two, context_frames=4, replace_frames=0,
                            new_frames=0, add_frames=4)  # a file of the second version: add_frames saved,
    # new_frames filled by the engine from the newest signature's default
    assert indices(control[:4]) == [16, 17, 18, 19] and indices(control[-4:], offset=600) == [0, 1, 2, 3]
    assert mask_rows(mask) == [0] * 4 + [1] * 5 + [0] * 4
    out = run("WanVACEPrep", video_1=one, video_2=two, context_frames=4, replace_frames=4, new_frames=0,
              add_frames=0, crossfade_mode=True)
    assert indices(out[5]) == list(range(16)) and indices(out[6], offset=600) == list(range(4, 20))


@pytest.mark.parametrize("first,last,start,end", [
    (True, False, list(range(0, 28)), []),
    (False, False, list(range(12, 28)), []),
    (False, True, list(range(12, 28)), list(range(12, 30))),
])
def test_join_batch_keeps_only_this_steps_part_of_the_clips(first, last, start, end):
    one, two = clip(40), clip(30, offset=600)
    out = run("WanVACEPrepBatch", video_1=one, video_2=two, is_first=first, is_last=last, context_frames=4,
              replace_frames=8, new_frames=0, debug=False)
    single = run("WanVACEPrep", video_1=one, video_2=two, context_frames=4, replace_frames=8, new_frames=0)
    assert torch.equal(out[0], single[0]) and torch.equal(out[1], single[1])
    assert indices(out[5]) == start and indices(out[6], offset=600) == end
    assert out[6].shape[1:] == one.shape[1:]


@pytest.mark.parametrize("name,one,two", [
    ("video_1", clip(10), clip(30)),
    ("video_2", clip(30), clip(10)),
    ("video_2", clip(30), clip(30, size=48)),
])
def test_join_refusals_name_the_input(name, one, two):
    with pytest.raises(NodeInputError) as err:
        run("WanVACEPrep", video_1=one, video_2=two, context_frames=4, replace_frames=8, new_frames=0)
    assert err.value.input_name == name


def test_smoke_keeps_a_join_within_the_stand_in_clips():
    from wfrun.jobs.smoke import FULL_SIZE_CAPS, MAX_FRAMES

    # the pack's defaults (context 8 capped to 5 as a context input is, replace 8) must fit a
    # stand-in clip of MAX_FRAMES frames
    assert 5 + FULL_SIZE_CAPS["replace_frames"] <= MAX_FRAMES
