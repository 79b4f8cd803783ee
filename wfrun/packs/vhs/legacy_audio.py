"""VideoHelperSuite's legacy audio converters (``nodes.py``, since July 2024):
VHS_AudioToVHSAudio and VHS_VHSAudioToAudio.

In the pack a ``VHS_AUDIO`` is a function returning WAV bytes: AudioToVHSAudio pipes the
waveform as 32-bit floats through ffmpeg into a WAV file (ffmpeg's default WAV codec, 16-bit
PCM), and VHSAudioToAudio decodes such bytes back to 32-bit floats, at the rate and with
the channel count (mono or stereo) ffmpeg reports. wfrun holds a ``VHS_AUDIO`` as the AUDIO
value itself (its loaders and VHS_VideoCombine already do), so no ffmpeg runs here; what the
WAV round trip does to the samples is kept: the conversion to 16 bits as ffmpeg makes it
(``x · 32768``, rounded to the nearest integer with ties to even, clipped to the int16 range)
and back (``/ 32768``). The pack reads only the first item of a batch and knows mono and
stereo only on the way back; wfrun refuses other shapes by name rather than guess.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

_SCALE = 1 << 15


def _waveform(audio: Any, name: str) -> tuple[torch.Tensor, int]:
    if not isinstance(audio, dict) or not isinstance(audio.get("waveform"), torch.Tensor) \
            or "sample_rate" not in audio:
        raise NodeInputError(name, f"{name}: expected an AUDIO value (waveform and sample_rate), "
                             f"found {type(audio).__name__}")
    waveform = audio["waveform"]
    if waveform.ndim != 3 or waveform.shape[0] != 1:
        raise NodeInputError(name, f"{name}: expected one waveform [1, channels, samples], found shape "
                             f"{list(waveform.shape)}", "pass a single audio clip")
    return waveform, int(audio["sample_rate"])


def as_pcm16(waveform: torch.Tensor) -> torch.Tensor:
    """float samples as ffmpeg writes them to 16-bit PCM and reads them back."""
    codes = torch.round(waveform.float() * _SCALE).clamp(-_SCALE, _SCALE - 1)
    return codes / _SCALE


@executor("VHS_AudioToVHSAudio")
def audio_to_vhs_audio(ctx: ExecContext, audio: Any, **_: Any) -> tuple:
    waveform, rate = _waveform(audio, "audio")
    return ({"waveform": as_pcm16(waveform), "sample_rate": rate},)


@executor("VHS_VHSAudioToAudio")
def vhs_audio_to_audio(ctx: ExecContext, vhs_audio: Any, **_: Any) -> tuple:
    if vhs_audio is None:
        raise NodeInputError("vhs_audio", "audio input is not valid (nothing was given)")
    waveform, rate = _waveform(vhs_audio, "vhs_audio")
    if waveform.shape[1] not in (1, 2):
        raise NodeInputError("vhs_audio", f"vhs_audio has {waveform.shape[1]} channels; the pack reads mono "
                             "or stereo only")
    return ({"waveform": as_pcm16(waveform), "sample_rate": rate},)
