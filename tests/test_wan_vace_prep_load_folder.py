"""LoadVideosFromFolderSimple on small lossless videos written here with ffmpeg: natural
order, exact pixels, the joined sound (rate and channels of the first clip, cut to each
clip's length), the old one-output signature, and the folder rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.media.video import encode, mux_audio
from wfrun.nodes.executor import ExecContext, NodeInputError

FPS = 8


def write_clip(path, values, size=(16, 24)):
    frames = [np.full((*size, 3), v, dtype=np.uint8).tobytes() for v in values]
    encode(frames, path, width=size[1], height=size[0], frame_rate=FPS,
           output_args=["-n", "-c:v", "ffv1", "-pix_fmt", "bgr0"])


def with_sound(path, out, waveform, rate):
    mux_audio(path, out, torch.from_numpy(waveform).unsqueeze(0), rate, ["-c:a", "pcm_f32le"])


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "clips").mkdir()
    return tmp_path


def load(root, name="clips", **inputs):
    return node("LoadVideosFromFolderSimple")(ExecContext(input_dir=root), folder_path=name, **inputs)


def test_natural_order_and_exact_pixels(folder):
    clips = folder / "clips"
    write_clip(clips / "clip10.mkv", [100])
    write_clip(clips / "clip2.mkv", [20, 21])
    write_clip(clips / "Clip1.MKV", [10])
    (clips / "notes.txt").write_text("x")
    (clips / "sub.mp4").mkdir()
    images, audio = load(folder, name=' "clips" ')
    assert images.shape == (4, 16, 24, 3) and audio is None
    assert [round(float(f[0, 0, 0]) * 255) for f in images] == [10, 20, 21, 100]
    assert torch.equal(images[1], torch.full((16, 24, 3), 20 / 255))


def test_sound_is_joined_at_the_first_clips_rate_and_channels(folder):
    clips = folder / "clips"
    write_clip(folder / "a.mkv", [1] * 8)  # 1 s
    write_clip(folder / "b.mkv", [2] * 4)  # 0.5 s
    t = np.arange(16000 * 2) / 16000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)]).astype(np.float32) * 0.5
    with_sound(folder / "a.mkv", clips / "1.mkv", stereo, 16000)  # 2 s of sound, cut to 1 s
    mono = np.full((1, 6000), 0.25, dtype=np.float32)  # 0.75 s at 8 kHz, cut to 0.5 s
    with_sound(folder / "b.mkv", clips / "2.mkv", mono, 8000)
    images, audio = load(folder)
    assert images.shape[0] == 12 and audio["sample_rate"] == 16000
    wave = audio["waveform"]
    assert wave.shape == (1, 2, 16000 + 8000)
    # (-shortest may end the written sound a packet before the video: the rest is padded silence)
    np.testing.assert_allclose(wave[0, 0, :15000].numpy(), stereo[0, :15000], atol=1e-4)
    assert torch.equal(wave[0, 0, 16000:], wave[0, 1, 16000:])  # mono doubled
    assert float(wave[0, 0, 20000]) == pytest.approx(0.25, abs=0.02)


def test_old_signature_has_one_output(folder):
    write_clip(folder / "clips" / "a.mp4", [5])
    out = node("LoadVideosFromFolderSimple")(ExecContext(input_dir=folder, saved_date="2026-02-15"),
                                             folder_path="clips")
    assert len(out) == 1 and out[0].shape[0] == 1


@pytest.mark.parametrize("name", ["../clips", "/etc", "", "missing"])
def test_folder_outside_or_missing_is_refused(folder, name):
    with pytest.raises(NodeInputError) as err:
        load(folder, name=name)
    assert err.value.input_name == "folder_path"


def test_sizes_must_match_and_meta_batch_is_refused(folder):
    write_clip(folder / "clips" / "1.mkv", [1])
    write_clip(folder / "clips" / "2.mkv", [1], size=(32, 24))
    with pytest.raises(NodeInputError, match="2.mkv"):
        load(folder)
    with pytest.raises(NodeInputError) as err:
        load(folder, meta_batch=object())
    assert err.value.input_name == "meta_batch"


def test_frame_limit(folder, monkeypatch):
    import wfrun.packs.wan_vace_prep.load_folder as loader

    monkeypatch.setattr(loader, "MAX_FRAMES", 3)
    write_clip(folder / "clips" / "1.mkv", [1, 2])
    write_clip(folder / "clips" / "2.mkv", [3, 4])
    with pytest.raises(NodeInputError, match="more than 3 frames"):
        load(folder)
