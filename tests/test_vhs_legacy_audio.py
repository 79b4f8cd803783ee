"""VHS_AudioToVHSAudio / VHS_VHSAudioToAudio against ffmpeg itself: the pack pipes the
waveform through ffmpeg to WAV and back; wfrun keeps the AUDIO value and applies the same
16-bit quantization, which must match ffmpeg's sample for sample."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.media.video import ffmpeg_exe
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def ffmpeg_round_trip(waveform: torch.Tensor, rate: int) -> torch.Tensor:
    """The pack's two ffmpeg calls, run here as the reference."""
    channels = waveform.shape[1]
    data = waveform.squeeze(0).transpose(0, 1).numpy().astype("<f4").tobytes()
    wav = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "f32le", "-ar", str(rate), "-ac", str(channels),
                          "-i", "-", "-f", "wav", "-"], input=data, capture_output=True, check=True).stdout
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "-", "-f", "f32le", "-"], input=wav,
                         capture_output=True, check=True).stdout
    samples = np.frombuffer(raw, dtype="<f4").reshape(-1, channels).T
    return torch.from_numpy(samples.copy()).unsqueeze(0)


@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip_matches_ffmpeg_sample_for_sample(channels):
    generator = torch.Generator().manual_seed(channels)
    waveform = torch.rand(1, channels, 999, generator=generator) * 2.4 - 1.2  # some beyond full scale
    waveform[0, 0, :4] = torch.tensor([0.5 / 32768, 1.5 / 32768, -1.0, 1.0])  # ties and the ends
    audio = {"waveform": waveform, "sample_rate": 22050}
    (vhs_audio,) = node("VHS_AudioToVHSAudio")(CTX, audio=audio)
    (back,) = node("VHS_VHSAudioToAudio")(CTX, vhs_audio=vhs_audio)
    assert back["sample_rate"] == 22050
    expected = ffmpeg_round_trip(waveform, 22050)
    assert back["waveform"].shape == expected.shape == waveform.shape
    assert torch.equal(back["waveform"], expected)
    assert back["waveform"][0, 0, 2] == -1.0 and back["waveform"][0, 0, 3] == 32767 / 32768


def test_not_an_audio_value_is_named():
    with pytest.raises(NodeInputError) as err:
        node("VHS_AudioToVHSAudio")(CTX, audio=torch.zeros(3))
    assert err.value.input_name == "audio"
    with pytest.raises(NodeInputError) as err:
        node("VHS_VHSAudioToAudio")(CTX, vhs_audio={"waveform": torch.zeros(1, 3, 10), "sample_rate": 8000})
    assert err.value.input_name == "vhs_audio"
