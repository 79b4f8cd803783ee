"""Steerable-Motion's WanVideoBlender and VideoContinuationGenerator against the behaviour
their pack documents (3c28833), computed here frame by frame."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
AT_START = "start_sequence_at_beginning_and_prioritise_input_frames"
AFTER = "start_sequence_after_overlap_frames_and_prioritise_input_frames"


def clip(frames: int, value0: float, h: int = 4, w: int = 6) -> torch.Tensor:
    """Frame i is uniformly ``value0 + i / 100`` (so frames are told apart by value)."""
    return (value0 + torch.arange(frames, dtype=torch.float32) / 100).view(-1, 1, 1, 1).expand(-1, h, w, 3).clone()


# --- WanVideoBlender -----------------------------------------------------------------------

@pytest.mark.parametrize("overlap", [1, 3, 5])
def test_blender_cross_fades_the_overlap(overlap):
    a, b = clip(7, 0.1), clip(6, 0.5)
    (out,) = node("WanVideoBlender")(CTX, overlap_frames=overlap, video_1=a, video_2=b)
    assert out.shape[0] == 7 + 6 - overlap
    torch.testing.assert_close(out[:7 - overlap], a[:7 - overlap])
    torch.testing.assert_close(out[7:], b[overlap:])
    for k in range(overlap):
        weight = k / (overlap - 1) if overlap > 1 else 0.0
        expected = (1 - weight) * a[7 - overlap + k] + weight * b[k]
        torch.testing.assert_close(out[7 - overlap + k], expected)


def test_blender_resizes_the_second_clip_to_the_first():
    a, b = clip(4, 0.2), clip(4, 0.6, h=8, w=12)
    (out,) = node("WanVideoBlender")(CTX, overlap_frames=2, video_1=a, video_2=b)
    assert out.shape == (6, 4, 6, 3)
    torch.testing.assert_close(out[-1], b[-1, :4, :6], atol=1 / 255, rtol=0)  # a flat frame stays flat


def test_blender_refuses_an_overlap_longer_than_a_clip():
    with pytest.raises(NodeInputError):
        node("WanVideoBlender")(CTX, overlap_frames=5, video_1=clip(4, 0.1), video_2=clip(9, 0.2))


# --- VideoContinuationGenerator ------------------------------------------------------------

def generate(**inputs):
    return node("VideoContinuationGenerator")(CTX, **inputs)


def test_continuation_overlap_grey_middle_and_end_frame():
    video, end = clip(10, 0.0), clip(1, 0.9)
    frames, mask = generate(input_video_frames=video, total_output_frames=9, overlap_frames=3,
                            empty_frame_fill_level=0.25, end_frame=end)
    assert frames.shape == (9, 4, 6, 3) and mask.shape == (9, 4, 6)
    torch.testing.assert_close(frames[:3], video[7:])
    assert torch.all(frames[3:8] == 0.25)
    torch.testing.assert_close(frames[8], end[0])
    assert mask[:, 0, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 0]


def test_continuation_without_end_frame_and_overlap_capped_by_input():
    frames, mask = generate(input_video_frames=clip(2, 0.3), total_output_frames=5, overlap_frames=4,
                            empty_frame_fill_level=0.5)
    torch.testing.assert_close(frames[:2], clip(2, 0.3))
    assert torch.all(frames[2:] == 0.5)
    assert mask[:, 0, 0].tolist() == [0, 0, 1, 1, 1]


def test_control_images_at_beginning_skip_the_overlap_and_mark_the_middle_known():
    control = clip(12, 0.5)
    frames, mask = generate(input_video_frames=clip(6, 0.0), total_output_frames=9, overlap_frames=2,
                            empty_frame_fill_level=0.5, control_images=control,
                            how_to_use_control_images=AT_START, how_to_use_inpaint_masks=AT_START)
    torch.testing.assert_close(frames[2:], control[2:9], atol=1 / 255, rtol=0)  # Lanczos at 8 bits
    assert mask[:, 0, 0].tolist() == [0] * 9


def test_too_few_control_images_are_padded_and_stay_to_generate():
    control = clip(5, 0.5)
    frames, mask = generate(input_video_frames=clip(6, 0.0), total_output_frames=9, overlap_frames=2,
                            empty_frame_fill_level=0.1, control_images=control,
                            how_to_use_control_images=AT_START, how_to_use_inpaint_masks=AT_START)
    torch.testing.assert_close(frames[2:5], control[2:5], atol=1 / 255, rtol=0)
    assert torch.all(frames[5:] == 0.1)
    assert mask[:, 0, 0].tolist() == [0, 0] + [1] * 7


def test_control_images_after_overlap_start_at_their_first_frame():
    control = clip(12, 0.5)
    frames, mask = generate(input_video_frames=clip(6, 0.0), total_output_frames=9, overlap_frames=2,
                            empty_frame_fill_level=0.5, control_images=control,
                            how_to_use_control_images=AFTER, how_to_use_inpaint_masks=AFTER)
    torch.testing.assert_close(frames[2:], control[:7], atol=1 / 255, rtol=0)
    assert mask[:, 0, 0].tolist() == [0, 0] + [1] * 7


def test_inpaint_mask_cycles_and_keeps_overlap_and_end_known():
    pattern = torch.tensor([1.0, 0.5, 0.25]).view(3, 1, 1).expand(3, 4, 6).clone()
    _, mask = generate(input_video_frames=clip(4, 0.0), total_output_frames=9, overlap_frames=1,
                       empty_frame_fill_level=0.5, end_frame=clip(1, 0.9), inpaint_mask=pattern)
    expected = [pattern[i % 3, 0, 0].item() for i in range(9)]
    expected[0] = expected[-1] = 0.0
    assert mask[:, 0, 0].tolist() == expected


def test_frame_count_must_be_4n_plus_1():
    with pytest.raises(NodeInputError):
        generate(input_video_frames=clip(4, 0.0), total_output_frames=8, overlap_frames=1,
                 empty_frame_fill_level=0.5)
