"""GeekyAudioMixer: tracks placed, scaled and faded on a stereo timeline, then the master chain
(normalisation, limiter, clamp), each computed here by hand from the pack's rules."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.node_helpers import node
from wfrun.media.audio import resample
from wfrun.nodes.executor import ExecContext, NodeInputError

PLAIN = dict(normalization_mode="off", limiter_threshold=-20.0, compression_ratio=1.0, master_volume=1.0,
             pre_gain_boost=1.0)


def mix(**inputs):
    return node("GeekyAudioMixer")(ExecContext(), **inputs)


def test_a_track_lands_at_its_start_scaled_and_doubled_to_stereo():
    audio = {"waveform": torch.full((1, 1, 8000), 0.5), "sample_rate": 8000}
    out, info, total, meters = mix(audio_1=audio, output_duration=3.0, sample_rate=8000, audio_1_volume=1.5,
                                   audio_1_start_time=1.0, **PLAIN)
    wave = out["waveform"]
    assert out["sample_rate"] == 8000 and wave.shape == (1, 2, 24000) and total == 3.0
    assert wave[..., :8000].eq(0).all() and wave[..., 8000:16000].eq(0.75).all() and wave[..., 16000:].eq(0).all()
    assert json.loads(info)["tracks_loaded"] == 1
    levels = json.loads(meters)
    assert levels["peak_left_db"] == pytest.approx(20 * math.log10(0.75 + 1e-10), abs=1e-4)
    assert levels["stereo_balance"] == "centered"


def test_fades_are_linear_and_at_most_half_the_track():
    audio = {"waveform": torch.ones(1, 2, 10), "sample_rate": 8000}
    out, *_ = mix(audio_1=audio, output_duration=1.0, sample_rate=8000, audio_1_volume=1.0, audio_1_start_time=0.0,
                  audio_1_fade_in=0.0005, audio_1_fade_out=1.0, **PLAIN)  # 4 samples in; out capped at 5
    got = out["waveform"][0, 0, :10]
    expected = torch.ones(10)
    expected[:4] *= torch.linspace(0, 1, 4)
    expected[-5:] *= torch.linspace(1, 0, 5)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_two_tracks_add_then_clipping_prevention_and_the_limiter():
    a = {"waveform": torch.full((1, 2, 8000), 0.8), "sample_rate": 8000}
    b = {"waveform": torch.full((1, 1, 4000), 0.6), "sample_rate": 8000}
    out, *_ = mix(audio_1=a, audio_2=b, output_duration=1.0, sample_rate=8000, audio_1_volume=1.0,
                  audio_1_start_time=0.0, audio_2_volume=2.0, audio_2_start_time=0.5, audio_2_fade_in=0.0,
                  audio_2_fade_out=0.0, normalization_mode="prevent_clipping", limiter_threshold=-6.0,
                  compression_ratio=1.0, master_volume=1.0, pre_gain_boost=1.0)
    t = 10 ** (-6.0 / 20)
    peak = torch.tensor(0.8 + 1.2)
    first, second = torch.tensor(0.8) * (0.95 / peak), peak * (0.95 / peak)
    wave = out["waveform"][0]
    torch.testing.assert_close(wave[:, 0], torch.tanh(first / t) * t + torch.zeros(2))
    torch.testing.assert_close(wave[:, 6000], torch.tanh(second / t) * t + torch.zeros(2))


def test_another_rate_is_resampled_with_the_windowed_sinc():
    g = torch.Generator().manual_seed(0)
    audio = {"waveform": torch.rand(1, 2, 1600, generator=g) * 0.1, "sample_rate": 16000}
    out, *_ = mix(audio_1=audio, output_duration=1.0, sample_rate=44100, audio_1_volume=1.0, audio_1_start_time=0.0,
                  **PLAIN)
    expected = resample(audio["waveform"][0], 16000, 44100)
    assert expected.shape[-1] == 4410
    torch.testing.assert_close(out["waveform"][0, :, :4410], expected, rtol=0, atol=0)


def test_a_track_longer_than_the_timeline_is_refused():
    audio = {"waveform": torch.ones(1, 2, 16000), "sample_rate": 8000}
    with pytest.raises(NodeInputError) as err:
        mix(audio_1=audio, output_duration=2.5, sample_rate=8000, audio_1_volume=1.0, audio_1_start_time=1.0, **PLAIN)
    assert err.value.input_name == "audio_1_start_time"
