"""Audio loaders: ComfyUI's LoadAudio and VideoHelperSuite's VHS_LoadAudio / VHS_LoadAudioUpload.

References are independent of wfrun's reader: WAV files written here with the ``wave`` module
from known integer samples (what a PCM decoder must give: ``x / 2**15``), FLAC and two-stream
files made from them by ffmpeg (lossless, so the same numbers), cuts worked out from the
sample rate.
"""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from node_helpers import node
from wfrun.media.video import ffmpeg_exe
from wfrun.nodes.executor import ExecContext, NodeInputError


def run(class_type, ctx, **inputs):
    return node(class_type)(ctx, **inputs)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output", workflow_json={})


def pcm(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    """Integer samples [samples, channels]: a tone per channel plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    cols = [0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(t.shape)
            for c in range(channels)]
    return (np.clip(np.stack(cols, 1), -1, 1) * 32767).astype("<i2")


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def expected(samples: np.ndarray) -> torch.Tensor:
    """What a 16-bit PCM decoder gives: [1, channels, samples] floats, x / 2**15."""
    return torch.from_numpy(samples.T.astype(np.float32) / 32768.0).unsqueeze(0)


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


# ---------------------------------------------------------------------------- LoadAudio

def test_load_audio_reads_a_wav_exactly(ctx):
    samples = pcm(0.5, 22050, 2)
    write_wav(ctx.input_dir / "voice.wav", samples, 22050)
    (audio,) = run("LoadAudio", ctx, audio="voice.wav")
    assert audio["sample_rate"] == 22050
    assert audio["waveform"].dtype == torch.float32 and audio["waveform"].shape == (1, 2, 11025)
    assert torch.equal(audio["waveform"], expected(samples))


def test_load_audio_reads_flac_in_a_subfolder_and_the_output_folder(ctx):
    samples = pcm(0.25, 16000, 1, seed=1)
    (ctx.input_dir / "talk").mkdir()
    source = write_wav(ctx.input_dir / "talk" / "src.wav", samples, 16000)
    ffmpeg("-i", str(source), "-c:a", "flac", str(ctx.input_dir / "talk" / "line.flac"))
    (audio,) = run("LoadAudio", ctx, audio="talk/line.flac")
    assert audio["sample_rate"] == 16000 and torch.equal(audio["waveform"], expected(samples))
    write_wav(ctx.output_dir / "made.wav", samples, 16000)
    (audio,) = run("LoadAudio", ctx, audio="made.wav [output]")
    assert torch.equal(audio["waveform"], expected(samples))


def two_stream_file(folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A Matroska file with a mono stream first, then a stereo one."""
    mono, stereo = pcm(0.2, 16000, 1, seed=2), pcm(0.3, 24000, 2, seed=3)
    a = write_wav(folder / "a.wav", mono, 16000)
    b = write_wav(folder / "b.wav", stereo, 24000)
    out = folder / "two.mka"
    ffmpeg("-i", str(a), "-i", str(b), "-map", "0:a", "-map", "1:a", "-c:a", "pcm_s16le", str(out))
    return out, mono, stereo


def test_load_audio_takes_the_first_stream_and_vhs_takes_ffmpegs_choice(ctx):
    _, mono, stereo = two_stream_file(ctx.input_dir)
    (audio,) = run("LoadAudio", ctx, audio="two.mka")
    assert audio["sample_rate"] == 16000 and torch.equal(audio["waveform"], expected(mono))
    audio, seconds = run("VHS_LoadAudioUpload", ctx, audio="two.mka")
    assert audio["sample_rate"] == 24000 and torch.equal(audio["waveform"], expected(stereo))
    assert seconds == pytest.approx(0.3)


@pytest.mark.parametrize("name, why", [
    ("missing.wav", "not found"),
    ("../outside.wav", "relative"),
    ("/etc/passwd", "relative"),
    (7, "file name"),
])
def test_load_audio_refuses_bad_names_by_input(ctx, name, why):
    with pytest.raises(NodeInputError) as err:
        run("LoadAudio", ctx, audio=name)
    assert err.value.input_name == "audio" and why in str(err.value)


def test_a_file_without_sound_is_refused_by_input(ctx):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(ctx.input_dir / "still.png")
    (ctx.input_dir / "noise.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    for name in ("still.png", "noise.wav"):
        with pytest.raises(NodeInputError) as err:
            run("LoadAudio", ctx, audio=name)
        assert err.value.input_name == "audio" and name in str(err.value)
        with pytest.raises(NodeInputError) as err:
            run("VHS_LoadAudioUpload", ctx, audio=name)
        assert err.value.input_name == "audio"


# ---------------------------------------------------------------------------- VHS loaders

def test_vhs_load_audio_maps_comfyui_relative_paths_and_cuts(ctx):
    rate = 16000
    samples = pcm(1.0, rate, 2, seed=4)
    write_wav(ctx.input_dir / "song.wav", samples, rate)
    audio, seconds = run("VHS_LoadAudio", ctx, audio_file='"input/song.wav"', seek_seconds=0.25, duration=0.5)
    start, count = int(0.25 * rate), int(0.5 * rate)
    assert audio["sample_rate"] == rate and seconds == pytest.approx(0.5)
    assert torch.equal(audio["waveform"], expected(samples[start:start + count]))
    # 0 means "to the end"; a name without a folder is looked up in the input folder
    audio, seconds = run("VHS_LoadAudio", ctx, audio_file="song.wav", seek_seconds=0.75, duration=0)
    assert torch.equal(audio["waveform"], expected(samples[int(0.75 * rate):]))
    assert seconds == pytest.approx(0.25)
    write_wav(ctx.output_dir / "out.wav", samples[:800], rate)
    audio, _ = run("VHS_LoadAudio", ctx, audio_file="output/out.wav", seek_seconds=0)
    assert torch.equal(audio["waveform"], expected(samples[:800]))


def test_vhs_load_audio_upload_start_and_duration(ctx):
    rate = 8000
    samples = pcm(1.0, rate, 1, seed=5)
    write_wav(ctx.input_dir / "line.wav", samples, rate)
    audio, seconds = run("VHS_LoadAudioUpload", ctx, audio="line.wav", start_time=0.5, duration=0.125)
    assert torch.equal(audio["waveform"], expected(samples[4000:5000])) and seconds == pytest.approx(0.125)


@pytest.mark.parametrize("inputs, input_name", [
    ({"audio_file": "https://example.com/a.wav"}, "audio_file"),
    ({"audio_file": "/abs/a.wav"}, "audio_file"),
    ({"audio_file": "input/../../a.wav"}, "audio_file"),
    ({"audio_file": "input/nothere.wav"}, "audio_file"),
    ({"audio_file": "ok.wav", "seek_seconds": -1.0}, "seek_seconds"),
    ({"audio_file": "ok.wav", "duration": "long"}, "duration"),
])
def test_vhs_load_audio_refusals_name_the_input(ctx, inputs, input_name):
    write_wav(ctx.input_dir / "ok.wav", pcm(0.1, 8000, 1), 8000)
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadAudio", ctx, **inputs)
    assert err.value.input_name == input_name


def test_vhs_refuses_more_than_two_channels_as_vhs_cannot_read_them(ctx):
    src = write_wav(ctx.input_dir / "m.wav", pcm(0.1, 8000, 1), 8000)
    ffmpeg("-i", str(src), "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", str(ctx.input_dir / "six.wav"))
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadAudioUpload", ctx, audio="six.wav")
    assert err.value.input_name == "audio" and "6 channels" in str(err.value)
    (audio,) = run("LoadAudio", ctx, audio="six.wav")  # ComfyUI's loader reads them all
    assert audio["waveform"].shape[:2] == (1, 6)


# ---------------------------------------------------------------------------- --smoke

def test_smoke_stands_in_for_a_missing_sound_and_the_run_checks_it_first(tmp_path):
    prompt = {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "speech/lc_line_01.wav"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 8, "color": 0}},
        "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": 16.0, "audio": ["1", 0]}},
        "4": {"class_type": "SaveVideo", "inputs": {"video": ["3", 0], "filename_prefix": "talk",
                                                    "format": "auto", "codec": "auto"}},
    }
    path = tmp_path / "talk.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    from wfrun.cli import main

    args = ["run", str(path), "-o", str(tmp_path / "out"), "--device", "cpu", "--format", "json"]
    env = {"WFRUN_CACHE": str(tmp_path / "cache")}
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1 and "lc_line_01.wav" in result.output and "missing" in result.output
    result = CliRunner().invoke(main, [*args, "--smoke"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert any("'speech/lc_line_01.wav' is missing: a stand-in audio" in s for s in report["standins"])
    from wfrun.media.audio import read_first_stream

    saved = [Path(p) for p in report["written"] if p.endswith(".mp4")]
    sound = read_first_stream(saved[0])
    assert sound.samples.shape[0] == 1 and sound.samples.shape[1] > 0
