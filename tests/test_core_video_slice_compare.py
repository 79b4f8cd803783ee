"""ComfyUI's Video Slice ("Trim Video", ``comfy_extras/nodes_video.py``) and ImageCompare,
against hand-worked cases of ComfyUI's rules.

Video Slice keeps a frame when its time ``i / fps`` is at least the start and (with a
duration) before start + duration (``as_trimmed``: ``pts >= start_pts``, ``pts < end_pts``),
counts a negative start back from the end, cuts the audio to ``start · rate`` ..
``+ duration · rate`` samples and, with ``strict_duration``, fails when less than the
duration remains; a video made of tensors (CreateVideo) fails whenever the window ends past
it. ImageCompare writes each side as a preview (``comfy.compare.a``/``.b`` plus
PreviewImage's ``_temp_xxxxx`` suffix) into the temporary folder, nothing into the output
folder; the saved template's compare view needs no value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.node_helpers import node
from wfrun.media.video_value import Video
from wfrun.nodes.executor import ExecContext, NodeInputError


def _video(frames: int = 10, fps: float = 5.0, rate: int = 100, from_file: bool = True) -> Video:
    """Frame ``i`` is filled with ``i / 100``; audio sample ``k`` holds ``k`` (2 channels)."""
    images = torch.arange(frames, dtype=torch.float32).div(100).view(-1, 1, 1, 1).expand(frames, 4, 6, 3).clone()
    samples = int(frames / fps * rate)
    wave = torch.arange(samples, dtype=torch.float32).expand(1, 2, samples).clone()
    return Video(images, fps, {"waveform": wave, "sample_rate": rate}, 8, Path("clip.mp4") if from_file else None)


def _slice(video: Video, start: float, duration: float, strict: bool = False) -> Video:
    return node("Video Slice")(ExecContext(), video=video, start_time=start, duration=duration,
                               strict_duration=strict)[0]


def _frame_ids(video: Video) -> list[int]:
    return [round(float(v) * 100) for v in video.images[:, 0, 0, 0]]


def test_window_in_the_middle():
    out = _slice(_video(), 0.4, 1.0)  # frames at 0.4, 0.6, 0.8, 1.0, 1.2 (1.4 is the end, excluded)
    assert _frame_ids(out) == [2, 3, 4, 5, 6]
    wave = out.audio["waveform"]
    assert wave.shape == (1, 2, 100) and wave[0, 0, 0] == 40 and wave[0, 0, -1] == 139
    assert out.fps == 5.0 and out.bit_depth == 8 and out.source == Path("clip.mp4")


def test_zero_duration_keeps_the_rest_and_zero_start_everything():
    assert _frame_ids(_slice(_video(), 0.0, 0.0)) == list(range(10))
    assert _frame_ids(_slice(_video(), 1.1, 0.0)) == [6, 7, 8, 9]  # 1.2 s on


def test_negative_start_counts_back_from_the_end():
    out = _slice(_video(), -0.6, 0.0)  # 2.0 s long: from 1.4 s
    assert _frame_ids(out) == [7, 8, 9]
    assert out.audio["waveform"][0, 0, 0] == 140 and out.audio["waveform"].shape[-1] == 60


def test_a_frame_exactly_at_the_start_is_kept():
    out = _slice(_video(frames=30, fps=30.0), 0.1, 0.1)  # 3/30 s is 0.1 s; 6/30 is the end
    assert _frame_ids(out) == [3, 4, 5]


def test_strict_duration_fails_when_too_little_remains():
    assert _frame_ids(_slice(_video(), 1.5, 1.0)) == [8, 9]  # not strict: what remains
    with pytest.raises(NodeInputError) as err:
        _slice(_video(), 1.5, 1.0, strict=True)
    assert err.value.input_name == "duration"
    assert _frame_ids(_slice(_video(), 1.0, 1.0, strict=True)) == [5, 6, 7, 8, 9]  # exactly enough


def test_a_created_video_fails_past_its_end_even_without_strict():
    with pytest.raises(NodeInputError):
        _slice(_video(from_file=False), 1.5, 1.0)
    assert _frame_ids(_slice(_video(from_file=False), 1.0, 1.0)) == [5, 6, 7, 8, 9]


def test_an_empty_window_and_a_wrong_input_are_named():
    with pytest.raises(NodeInputError) as err:
        _slice(_video(), 5.0, 0.0)
    assert err.value.input_name == "start_time"
    with pytest.raises(NodeInputError) as err:
        node("Video Slice")(ExecContext(), video=torch.zeros(1, 4, 4, 3), start_time=0.0, duration=0.0,
                            strict_duration=False)
    assert err.value.input_name == "video"


def test_a_video_without_audio():
    video = Video(torch.rand(4, 2, 2, 3), 2.0)
    out = _slice(video, 0.5, 1.0)
    assert out.audio is None and torch.equal(out.images, video.images[1:3])


# ---------------------------------------------------------------------------- ImageCompare

def test_image_compare_writes_both_sides_as_previews(tmp_path):
    ctx = ExecContext(output_dir=tmp_path / "out")
    a, b = torch.rand(2, 8, 10, 3), torch.rand(1, 8, 10, 3)
    assert node("ImageCompare")(ctx, image_a=a, image_b=b) == ()
    temp = tmp_path / "out" / "temp"
    names = sorted(p.name for p in temp.iterdir())
    assert len(names) == 3
    assert all(re.fullmatch(r"comfy\.compare\.[ab]_temp_[a-z]{5}_\d{5}_\.png", n) for n in names)
    assert sum(n.startswith("comfy.compare.a") for n in names) == 2
    with Image.open(next(temp.glob("comfy.compare.b*"))) as image:
        assert image.size == (10, 8)
    assert not [p for p in (tmp_path / "out").iterdir() if p.is_file()]  # nothing in the output folder


def test_image_compare_with_one_side_or_none(tmp_path):
    ctx = ExecContext(output_dir=tmp_path)
    node("ImageCompare")(ctx, image_b=torch.rand(1, 4, 4, 3))
    node("ImageCompare")(ctx, image_a=torch.zeros(0, 4, 4, 3))  # an empty batch writes nothing, as ComfyUI
    assert len(list((tmp_path / "temp").iterdir())) == 1
    with pytest.raises(NodeInputError) as err:
        node("ImageCompare")(ctx, image_a="a.png")
    assert err.value.input_name == "image_a"
