"""ComfyUI's LoadAudio and AudioConcat (``comfy_extras/nodes_audio.py``).

LoadAudio gives an AUDIO value
``{"waveform": float32 [1, channels, samples], "sample_rate": int}`` from a file in the input
folder (or ``[output]``/``[temp]``), audio or video.

As in ComfyUI the file's first audio stream is read whole, at its own rate and channel
count. Differences, of means: ComfyUI decodes with PyAV, wfrun with the bundled ffmpeg
binary (the same libavcodec decoders; integers scaled alike). 8-bit WAV files, which
ComfyUI refuses (its PCM conversion knows 16 and 32 bits only), are read here as ffmpeg
reads them ((x - 128) / 128).

AudioConcat joins two sounds end to end (``audio2`` after ``audio1``, or before it): a mono
sound first gets its channel twice, and the one at the lower rate is resampled to the
other's (:func:`wfrun.media.audio.resample`, torchaudio's resampler, which ComfyUI calls).
As ComfyUI, their channel and batch counts must then agree.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.audio import AudioError, read_first_stream, resample
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file


def _audio_files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    return {"audio": (inputs.get("audio"), "audio")}


# volatile: the file may change between runs
@executor("LoadAudio", volatile=True, input_files=_audio_files)
def load_audio(ctx: ExecContext, audio: str, **_: Any) -> tuple:
    path = input_file(ctx, audio, "audio", "audio")
    try:
        sound = read_first_stream(path)
    except AudioError as err:
        raise NodeInputError("audio", str(err), "use a WAV, FLAC, MP3, OGG, M4A file or a video with sound") from None
    return ({"waveform": torch.from_numpy(sound.samples).unsqueeze(0), "sample_rate": sound.sample_rate},)


def _sound(value: Any, name: str) -> tuple[torch.Tensor, int]:
    waveform = value.get("waveform") if isinstance(value, dict) else None
    rate = value.get("sample_rate") if isinstance(value, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or not waveform.is_floating_point() \
            or isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0 or rate != int(rate):
        raise NodeInputError(name, f"expected an AUDIO value {{waveform: [batch, channels, samples], sample_rate}}, "
                             f"found {type(value).__name__}", "connect a Load Audio output")
    return waveform, int(rate)


@executor("AudioConcat")
def audio_concat(ctx: ExecContext, audio1: Any, audio2: Any, direction: str, **_: Any) -> tuple:
    if audio1 is None or audio2 is None:  # ComfyUI passes the other one through
        return (audio2 if audio1 is None else audio1,)
    if direction not in ("after", "before"):
        raise NodeInputError("direction", f"{direction!r} is not after or before")
    (wave1, rate1), (wave2, rate2) = _sound(audio1, "audio1"), _sound(audio2, "audio2")
    wave1 = wave1.repeat(1, 2, 1) if wave1.shape[1] == 1 else wave1
    wave2 = wave2.repeat(1, 2, 1) if wave2.shape[1] == 1 else wave2
    if rate1 > rate2:
        wave2, rate = resample(wave2, rate2, rate1), rate1
    elif rate2 > rate1:
        wave1, rate = resample(wave1, rate1, rate2), rate2
    else:
        rate = rate1
    if wave1.shape[:2] != wave2.shape[:2]:
        raise NodeInputError("audio2", f"sounds of {wave1.shape[1]} and {wave2.shape[1]} channels (batches "
                             f"{wave1.shape[0]} and {wave2.shape[0]}) cannot be joined",
                             "give both the same channel count")
    joined = torch.cat((wave1, wave2) if direction == "after" else (wave2, wave1), dim=2)
    return ({"waveform": joined, "sample_rate": rate},)
