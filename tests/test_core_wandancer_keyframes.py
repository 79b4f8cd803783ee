"""ComfyUI's WanDancerPadKeyframes(List) (``comfy_extras/nodes_wandancer.py``) on cases worked
out by hand from its code: 4 images, segments of 20 frames, 1.5 s of music at 100 Hz.

Segments: int((1.5 - 0.2) / (20 / 30)) + 1 = 2, so 40 frames and an image every 40 / 4 = 10.
Segment 0 (end 19): k = 0 (0 < 19 - 10), then the end: frame 0 ← image 0, frame 19 ← image 1.
Segment 1 (the last; end 40 - 20 - 1 = 19): segment 0 used one image before its end, so it
starts at image 1: frame 0 ← image 1, frame 19 ← image 2. Segment 2 (past the music, end 19):
one image each before → frame 0 ← image 2, frame 19 ← image 3. Audio cuts at int(t * 100):
[0, 66), [66, 133), [133, 150)."""

from __future__ import annotations

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
IMAGES = torch.arange(1, 5, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 2, 3, 3) / 10
AUDIO = {"waveform": torch.arange(150, dtype=torch.float32).view(1, 1, 150), "sample_rate": 100}


def _frames(mask: torch.Tensor) -> list[int]:
    return [i for i in range(mask.shape[0]) if mask[i].any()]


def test_list_node_places_images_as_worked_out():
    keyframes, masks, cuts = node("WanDancerPadKeyframesList")(CTX, images=IMAGES, segment_length=20, num_segments=3,
                                                               audio=AUDIO)
    assert len(keyframes) == len(masks) == len(cuts) == 3
    want = [{0: 0, 19: 1}, {0: 1, 19: 2}, {0: 2, 19: 3}]
    for frames, mask, placed in zip(keyframes, masks, want):
        assert frames.shape == (20, 2, 3, 3) and mask.shape == (20, 2, 3)
        assert _frames(mask) == sorted(placed) and bool((mask[sorted(placed)] == 1).all())
        for frame, image in placed.items():
            torch.testing.assert_close(frames[frame], IMAGES[image])
        assert not frames[[f for f in range(20) if f not in placed]].any()
    assert [(int(c["waveform"][0, 0, 0]) if c["waveform"].shape[-1] else None, c["waveform"].shape[-1])
            for c in cuts] == [(0, 66), (66, 67), (133, 17)]
    assert all(c["sample_rate"] == 100 for c in cuts)


def test_single_node_is_one_item_of_the_list():
    listed = node("WanDancerPadKeyframesList")(CTX, images=IMAGES, segment_length=20, num_segments=2, audio=AUDIO)
    one = node("WanDancerPadKeyframes")(CTX, images=IMAGES, segment_length=20, segment_index=1, audio=AUDIO)
    for part, item in zip(one[:2], (listed[0][1], listed[1][1])):
        torch.testing.assert_close(part, item)


def test_short_music_places_nothing_and_more_images_than_frames_keep_the_later():
    quiet = {"waveform": torch.zeros(1, 2, 10), "sample_rate": 100}  # 0.1 s: under the 0.2 s allowance
    frames, mask, cut = node("WanDancerPadKeyframes")(CTX, images=IMAGES, segment_length=20, segment_index=0,
                                                      audio=quiet)
    assert not frames.any() and not mask.any() and cut["waveform"].shape == (1, 2, 10)
    # 0.25 s of music, segments of 4: int(0.05 / (4 / 30)) + 1 = 1 segment of 4 frames; 16 images, one every
    # 0.25 frames. k = 0 … 10 (k * 0.25 < 3 - 0.25) land at ceil(k / 4) = 0,1,1,1,1,2,2,2,2,3,3, then the end,
    # frame 3, takes image 11: the last image written to each frame stays
    short = {"waveform": torch.zeros(1, 1, 25), "sample_rate": 100}
    many = torch.rand(16, 1, 1, 3, generator=torch.Generator().manual_seed(0))
    frames, mask, _ = node("WanDancerPadKeyframes")(CTX, images=many, segment_length=4, segment_index=0, audio=short)
    torch.testing.assert_close(frames, many[[0, 4, 8, 11]])
    assert mask.flatten().tolist() == [1.0] * 4
    # 0.5 s, segments of 2: 5 segments, 10 frames, an image every 2.5: segment 0 has only its end, frame 1 ← image 0
    frames, mask, _ = node("WanDancerPadKeyframes")(CTX, images=many[:4], segment_length=2, segment_index=0,
                                                    audio={"waveform": torch.zeros(1, 1, 50), "sample_rate": 100})
    assert mask.flatten().tolist() == [0.0, 1.0] and not frames[0].any()
    torch.testing.assert_close(frames[1], many[0])


def test_music_is_required_and_numbers_checked():
    with pytest.raises(NodeInputError) as err:
        node("WanDancerPadKeyframesList")(CTX, images=IMAGES, segment_length=20, num_segments=1, audio=None)
    assert err.value.input_name == "audio"
    with pytest.raises(NodeInputError) as err:
        node("WanDancerPadKeyframesList")(CTX, images=IMAGES, segment_length=0, num_segments=1, audio=AUDIO)
    assert err.value.input_name == "segment_length"
