"""ComfyUI's LoadAudio (``comfy_extras/nodes_audio.py``): an AUDIO value
``{"waveform": float32 [1, channels, samples], "sample_rate": int}`` from a file in the input
folder (or ``[output]``/``[temp]``), audio or video.

As in ComfyUI the file's first audio stream is read whole, at its own rate and channel
count. Differences, of means: ComfyUI decodes with PyAV, wfrun with the bundled ffmpeg
binary (the same libavcodec decoders; integers scaled alike). 8-bit WAV files, which
ComfyUI refuses (its PCM conversion knows 16 and 32 bits only), are read here as ffmpeg
reads them ((x - 128) / 128).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.audio import AudioError, read_first_stream
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
