"""Reading sound from a file as float samples ``[channels, samples]``, through the bundled
ffmpeg binary (imageio-ffmpeg), for the audio loaders; and writing it as FLAC
(:func:`write_flac`, core SaveAudio's format).

Two ways of choosing and cutting, after the two families of loaders:

* :func:`read_first_stream` — ComfyUI's ``LoadAudio``: the file's *first* audio stream, whole,
  at its own rate and channel count. Integer samples become floats as PyAV's frames do in
  ComfyUI (16-bit by 2**15, 32-bit and 24-bit by 2**31).
* :func:`read_ffmpeg_default` — VideoHelperSuite's ``get_audio``: the stream ffmpeg picks by
  itself (the one with most channels, the first of those), ``-ss``/``-t`` given after the
  input (ffmpeg decodes from the start and drops what comes before ``start``), mono and
  stereo only.

Both fail with :class:`AudioError` (a message naming the file) when the file has no audio
stream or ffmpeg cannot decode it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wfrun.atomic import writing
from wfrun.media.video import (ENCODE_ARGS, AudioStreamInfo, VideoError, _fail, audio_streams, ffmetadata_document,
                               ffmpeg_exe)

if TYPE_CHECKING:
    import torch


class AudioError(ValueError):
    """A file whose sound cannot be read; the message names the file and says why."""


@dataclass(frozen=True)
class Sound:
    samples: np.ndarray  # float32 [channels, samples]
    sample_rate: int


def _streams(path: Path) -> list[AudioStreamInfo]:
    try:
        found = audio_streams(path)
    except (OSError, VideoError) as err:
        raise AudioError(f"{path.name}: ffmpeg cannot read it: {err}") from None
    if not found:
        raise AudioError(f"{path.name}: no audio stream found in the file")
    return found


def _decode(path: Path, args: list[str], channels: int) -> np.ndarray:
    try:
        result = subprocess.run([ffmpeg_exe(), "-v", "error", *args], capture_output=True)
    except (OSError, VideoError) as err:
        raise AudioError(f"{path.name}: cannot run ffmpeg: {err}") from None
    if result.returncode != 0:
        text = result.stderr.decode(*ENCODE_ARGS).strip().splitlines()
        raise AudioError(f"{path.name}: ffmpeg cannot decode its audio: {text[-1] if text else 'no reason given'}")
    data = np.frombuffer(result.stdout, dtype="<f4")
    usable = len(data) // channels * channels
    return np.array(data[:usable].reshape(-1, channels).T, dtype=np.float32, order="C")  # a writable copy


def read_first_stream(path: str | os.PathLike[str]) -> Sound:
    """The first audio stream of ``path``, whole (ComfyUI's LoadAudio)."""
    path = Path(path)
    stream = _streams(path)[0]
    samples = _decode(path, ["-i", str(path), "-map", f"0:a:{stream.index}", "-vn", "-sn", "-dn",
                             "-ac", str(stream.channels), "-ar", str(stream.sample_rate),
                             "-f", "f32le", "-acodec", "pcm_f32le", "-"], stream.channels)
    if samples.shape[1] == 0:
        raise AudioError(f"{path.name}: no audio frames decoded")
    return Sound(samples, stream.sample_rate)


def ffmpeg_default_stream(streams: list[AudioStreamInfo]) -> AudioStreamInfo:
    """The audio stream ffmpeg maps when told nothing: most channels, the first of those."""
    return max(streams, key=lambda s: (s.channels, -s.index))


def read_ffmpeg_default(path: str | os.PathLike[str], start: float = 0.0, duration: float = 0.0) -> Sound:
    """The audio of ``path`` as VideoHelperSuite's ``get_audio`` reads it: ffmpeg's own choice
    of stream, from ``start`` seconds (when above 0) for ``duration`` seconds (when above 0).
    An empty cut gives zero samples."""
    path = Path(path)
    stream = ffmpeg_default_stream(_streams(path))
    if stream.channels not in (1, 2):
        raise AudioError(f"{path.name}: its audio has {stream.channels} channels; VideoHelperSuite reads "
                         "mono and stereo sound only")
    args = ["-i", str(path), "-map", f"0:a:{stream.index}", "-vn", "-sn", "-dn"]
    if start > 0:
        args += ["-ss", f"{float(start):.6f}"]
    if duration > 0:
        args += ["-t", f"{float(duration):.6f}"]
    samples = _decode(path, [*args, "-ac", str(stream.channels), "-ar", str(stream.sample_rate),
                             "-f", "f32le", "-acodec", "pcm_f32le", "-"], stream.channels)
    return Sound(samples, stream.sample_rate)


# ---------------------------------------------------------------------------- resampling

def resample(waveform: "torch.Tensor", orig_freq: int, new_freq: int, lowpass_filter_width: int = 6,
             rolloff: float = 0.99) -> "torch.Tensor":
    """``waveform`` (``[..., samples]``, floating point) from ``orig_freq`` to ``new_freq`` Hz by
    band-limited interpolation with a Hann-windowed sinc, as ``torchaudio.functional.resample``
    does with its defaults (the resampler ComfyUI's nodes call): both rates reduced by their
    greatest common divisor, a cut-off at ``rolloff`` of the lower rate, ``lowpass_filter_width``
    zero crossings each side, the filter computed in the waveform's dtype, and
    ``ceil(new * samples / orig)`` samples out. Equal rates return ``waveform`` itself."""
    import math

    import torch
    import torch.nn.functional as F

    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_freq} and {new_freq}")
    if orig_freq == new_freq:
        return waveform
    if not waveform.is_floating_point():
        raise TypeError(f"resampling needs floating-point samples, got {waveform.dtype}")
    divisor = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // divisor, int(new_freq) // divisor
    cutoff = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / cutoff)
    dtype, device = waveform.dtype, waveform.device
    # filter taps: for each of the ``new`` output phases, the input offsets -width .. width+orig
    offsets = torch.arange(-width, width + orig, dtype=dtype, device=device)[None, None] / orig
    times = torch.arange(0, -new, -1, dtype=dtype, device=device)[:, None, None] / new + offsets
    times = (times * cutoff).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(times * math.pi / lowpass_filter_width / 2) ** 2
    times = times * math.pi
    taps = torch.where(times == 0, torch.ones((), dtype=dtype, device=device), torch.sin(times) / times)
    taps = taps * (window * (cutoff / orig))
    shape = waveform.shape
    flat = waveform.reshape(-1, shape[-1])
    length = flat.shape[1]
    out = F.conv1d(F.pad(flat, (width, width + orig))[:, None], taps, stride=orig)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    keep = int(torch.ceil(torch.as_tensor(new * length / orig)))
    return out[:, :keep].reshape(*shape[:-1], -1)


def write_flac(path: Path, samples: np.ndarray, rate: int, metadata: dict[str, Any]) -> None:
    """``samples`` [channels, n] float32 as 16-bit FLAC at ``path``, complete or absent."""
    if os.path.lexists(path):
        raise FileExistsError(str(path))
    data = np.ascontiguousarray(samples.T.astype("<f4")).tobytes()
    with tempfile.TemporaryDirectory(prefix="wfrun-meta-") as tmp, writing(path) as temp:
        args = [ffmpeg_exe(), "-v", "error", "-n"]
        if metadata:
            meta = Path(tmp) / "metadata.txt"
            meta.write_text(ffmetadata_document(metadata), encoding="utf-8")
            args += ["-i", str(meta)]
        args += ["-f", "f32le", "-ar", str(rate), "-ac", str(samples.shape[0]), "-i", "-",
                 "-map", f"{1 if metadata else 0}:a", "-c:a", "flac", "-sample_fmt", "s16", "-f", "flac", str(temp)]
        result = subprocess.run(args, input=data, capture_output=True, start_new_session=os.name == "posix")
        if result.returncode != 0:
            _fail(path, f"ffmpeg failed writing {path.name}", result.stderr.decode(*ENCODE_ARGS).strip())
