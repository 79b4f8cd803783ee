"""VHS_LoadAudio (a path) and VHS_LoadAudioUpload (a file of the input folder).

Both read as VideoHelperSuite's ``get_audio`` does (:func:`wfrun.media.audio.read_ffmpeg_default`):
ffmpeg's own choice of stream, cut from ``seek_seconds``/``start_time`` for ``duration``
seconds (0: to the end), mono or stereo, at the file's rate. They return the AUDIO value and,
in the signatures that have it, the length read in seconds. Saves whose output was
``VHS_AUDIO`` (before July 2024) get the AUDIO value too: wfrun's VHS_VideoCombine reads it.

``audio_file`` is an operating-system path in VHS, relative to the ComfyUI folder where
``input/`` and ``output/`` live. wfrun maps it onto its own folders: a name starting with
``input/`` (or ``output/``, ``temp/``) is looked up in the run's input (or output, temp)
folder, any other relative name in the input folder. Absolute paths, ``..``, symlinks leading
out and URLs (which VHS downloads) are refused: workflows come from the internet.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import torch

from wfrun.media.audio import AudioError, read_ffmpeg_default
from wfrun.media.image import split_annotation
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file
from wfrun.packs.vhs.video_nodes import strip_path

_HINT = "use a WAV, FLAC, MP3, OGG or M4A file, or a video with mono or stereo sound"


def folder_name(path: Any) -> Any:
    """A VHS path as a name of wfrun's folders: ``input/a.wav`` → ``a.wav``, ``output/a.wav``
    → ``a.wav [output]``; names with a folder annotation and other names are kept (the
    folder lookup refuses the unsafe ones)."""
    if not isinstance(path, str):
        return path
    plain, tag = split_annotation(strip_path(path))
    if tag is not None:
        return f"{plain} [{tag}]"
    parts = [p for p in PurePosixPath(plain.replace("\\", "/")).parts if p != "."]
    if len(parts) > 1 and parts[0] in ("input", "output", "temp") and not plain.startswith(("/", "\\")):
        rest = "/".join(parts[1:])
        return rest if parts[0] == "input" else f"{rest} [{parts[0]}]"
    return plain


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise NodeInputError(name, f"{name} is {value!r}; expected seconds, 0 or more")
    return float(value)


def _load(ctx: ExecContext, name: str, input_name: str, start: float, duration: float) -> tuple:
    if isinstance(name, str) and strip_path(name).split("://")[0] in ("http", "https"):
        raise NodeInputError(input_name, f"{input_name} is a URL ({strip_path(name)!r}); wfrun does not download "
                             "files a workflow names", "download the file into the input folder and name it")
    path = input_file(ctx, folder_name(name), input_name, "audio")
    try:
        sound = read_ffmpeg_default(path, start, duration)
    except AudioError as err:
        raise NodeInputError(input_name, str(err), _HINT) from None
    waveform = torch.from_numpy(sound.samples).unsqueeze(0)
    return {"waveform": waveform, "sample_rate": sound.sample_rate}, waveform.shape[2] / sound.sample_rate


def _path_files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    return {"audio_file": (folder_name(inputs.get("audio_file")), "audio")}


# volatile: the file may change between runs
@executor("VHS_LoadAudio", volatile=True, input_files=_path_files)
def load_audio_path(ctx: ExecContext, audio_file: str, seek_seconds: Any, duration: Any, **_: Any) -> tuple:
    return _load(ctx, audio_file, "audio_file", _seconds(seek_seconds, "seek_seconds"),
                 _seconds(duration, "duration"))


def _upload_files(inputs: dict) -> dict:
    audio = inputs.get("audio")
    return {"audio": (strip_path(audio) if isinstance(audio, str) else audio, "audio")}


@executor("VHS_LoadAudioUpload", volatile=True, input_files=_upload_files)
def load_audio_upload(ctx: ExecContext, audio: str, start_time: Any, duration: Any, **_: Any) -> tuple:
    name = strip_path(audio) if isinstance(audio, str) else audio
    return _load(ctx, name, "audio", _seconds(start_time, "start_time"), _seconds(duration, "duration"))
