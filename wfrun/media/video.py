"""ffmpeg plumbing (through imageio-ffmpeg's bundled binary): probe, decode, encode, mux.

Frames go to ffmpeg as raw RGB on stdin and come back as raw RGB on stdout, as
VideoHelperSuite does it; no other video library is needed. Metadata is written the VHS way:
an ``FFMETADATA1`` file as an extra input, with ``-movflags use_metadata_tags`` so MP4/MOV
keep arbitrary keys (``prompt``, ``workflow``), and read back with :func:`read_metadata`.

Set ``IMAGEIO_FFMPEG_EXE`` to use another ffmpeg binary.
"""

from __future__ import annotations

import errno
import functools
import json
import re
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from wfrun.atomic import writing

ENCODE_ARGS = ("utf-8", "backslashreplace")


class VideoError(RuntimeError):
    """ffmpeg could not read or write a file; the message carries ffmpeg's own words."""


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise VideoError("imageio-ffmpeg is not installed: pip install imageio-ffmpeg") from err
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as err:  # pragma: no cover - the wheel ships a binary
        raise VideoError(f"no ffmpeg binary found: {err}") from None


# ---------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    codec: str = ""
    pix_fmt: str = ""


def probe(path: str | os.PathLike[str], count_frames: bool = True) -> VideoInfo:
    """Size, rate, codec and (by decoding, so exact) the number of frames of the first video stream."""
    import imageio_ffmpeg

    path = str(path)
    try:
        reader = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
        meta = next(reader)
        reader.close()
    except (OSError, RuntimeError, StopIteration) as err:
        raise VideoError(f"{Path(path).name}: ffmpeg cannot read it as a video ({_first_line(err)})") from None
    width, height = meta["size"]
    fps = float(meta.get("fps") or 0.0)
    duration = float(meta.get("duration") or 0.0)
    frames = 0
    if count_frames:
        try:
            frames, seconds = imageio_ffmpeg.count_frames_and_secs(path)
            duration = duration or float(seconds)
        except (OSError, RuntimeError) as err:
            raise VideoError(f"{Path(path).name}: cannot count frames ({_first_line(err)})") from None
    elif fps and duration:
        frames = int(round(fps * duration))
    return VideoInfo(int(width), int(height), fps, int(frames), duration,
                     str(meta.get("codec", "")), str(meta.get("pix_fmt", "")))


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Decoded frames, uint8 [H, W, 3] RGB, in order; stops ffmpeg when the caller stops."""
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as err:
        raise VideoError(f"{Path(path).name}: ffmpeg cannot read it as a video ({_first_line(err)})") from None
    width, height = meta["size"]
    try:
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The container's global tags (``ffmpeg -f ffmetadata``), unescaped."""
    result = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                            capture_output=True)
    if result.returncode != 0:
        raise VideoError(f"{Path(path).name}: cannot read metadata: {result.stderr.decode(*ENCODE_ARGS).strip()}")
    return parse_ffmetadata(result.stdout.decode("utf-8", "replace"))


def parse_ffmetadata(text: str) -> dict[str, str]:
    """Parse an ``;FFMETADATA1`` document's global section (escapes: ``\\ ; # = newline``)."""
    tags: dict[str, str] = {}
    i, n = 0, len(text)
    if text.startswith(";FFMETADATA"):
        i = text.find("\n") + 1 if "\n" in text else n
    while i < n:
        if text[i] == "[":  # a [STREAM]/[CHAPTER] section: global tags are over
            break
        if text[i] in ";#\n":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        key, value, into_value = [], [], False
        while i < n and text[i] != "\n":
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                (value if into_value else key).append(text[i + 1])
                i += 2
                continue
            if ch == "=" and not into_value:
                into_value = True
            else:
                (value if into_value else key).append(ch)
            i += 1
        i += 1
        if into_value:
            tags["".join(key)] = "".join(value)
    return tags


def escape_ffmetadata(key: str, value: Any) -> str:
    value = str(value)
    for old, new in (("\\", "\\\\"), (";", "\\;"), ("#", "\\#"), ("=", "\\="), ("\n", "\\\n")):
        value = value.replace(old, new)
    return f"{key}={value}"


def ffmetadata_document(metadata: Mapping[str, Any]) -> str:
    """``prompt`` and ``workflow`` first, then the rest; values as JSON, as VHS writes them."""
    lines = [";FFMETADATA1"]
    ordered = [k for k in ("prompt", "workflow") if k in metadata] + [
        k for k in metadata if k not in ("prompt", "workflow")]
    for key in ordered:
        lines.append(escape_ffmetadata(key, json.dumps(metadata[key])))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- writing

def frames_to_bytes(frames: Iterable[Any], bits: int = 8) -> Iterator[bytes]:
    """IMAGE frames (0..1 tensors or arrays, HxWxC) as raw little-endian samples, rounded like VHS."""
    top = 2 ** bits - 1
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    for frame in frames:
        array = frame.detach().float().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame, np.float32)
        yield np.clip(array * top + 0.5, 0, top).astype(dtype).tobytes()


def merge_filter_args(args: list[str], flag: str = "-vf") -> None:
    """Join every ``flag VALUE`` pair into the first one (ffmpeg takes one filter chain)."""
    if flag not in args:
        return
    first = args.index(flag) + 1
    index = first
    while True:
        try:
            index = args.index(flag, index)
        except ValueError:
            return
        args[first] += "," + args[index + 1]
        del args[index:index + 2]


def encode(frames: Iterable[bytes], path: str | os.PathLike[str], *, width: int, height: int,
           frame_rate: float, output_args: Sequence[str], input_pix_fmt: str = "rgb24",
           fake_trc: str = "iec61966-2-1", pre_output_args: Sequence[str] = (),
           metadata: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
           on_frame: Callable[[int], None] | None = None) -> int:
    """Pipe raw frames into ffmpeg and write ``path``; returns the number of frames sent.

    ``output_args`` are the format's codec arguments (they should contain ``-n`` so ffmpeg
    refuses to replace a file). With ``metadata`` the tags are embedded; if ffmpeg fails on
    them and wrote nothing, the file is written again without them (as VHS does).

    ffmpeg writes a temporary file beside ``path`` that takes the name only when complete
    (:mod:`wfrun.atomic`); on any failure, or an exception from ``on_frame`` (called with the
    count after each frame: the caller's progress and Ctrl-C check), ffmpeg is stopped and
    the temporary removed, so no truncated video ever has the name. ffmpeg runs in its own
    session, so a Ctrl-C in the terminal reaches wfrun only, which decides. Failures that
    are the disk's (full, read-only, quota) are raised as ``OSError`` naming ``path``.
    """
    path = Path(path)
    if os.path.lexists(path):  # ffmpeg's -n exits with status 0 on some builds, so check here too
        raise FileExistsError(errno.EEXIST, "already exists; wfrun never replaces an output", str(path))
    args = [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", input_pix_fmt,
            "-color_range", "pc", "-colorspace", "rgb", "-color_primaries", "bt709",
            "-color_trc", fake_trc, "-s", f"{width}x{height}", "-r", str(frame_rate), "-i", "-",
            *pre_output_args, *output_args]
    merge_filter_args(args)
    full_env = dict(os.environ, **(env or {}))
    frames = iter(frames)
    with writing(path) as temp:
        if metadata:
            with tempfile.TemporaryDirectory(prefix="wfrun-meta-") as tmp:
                meta_path = Path(tmp) / "metadata.txt"
                meta_path.write_text(ffmetadata_document(metadata), encoding="utf-8")
                with_meta = args[:1] + ["-i", str(meta_path)] + args[1:] + [
                    "-metadata", "creation_time=now", "-movflags", "use_metadata_tags"]
                buffered: list[bytes] = []
                ok, sent, err = _run(with_meta + [str(temp)], frames, full_env, keep=buffered, on_frame=on_frame)
            if ok:
                return sent
            if temp.exists():
                _fail(path, f"ffmpeg failed writing {path.name}", err)
            frames = iter(buffered + list(frames))
        ok, sent, err = _run(args + [str(temp)], frames, full_env, on_frame=on_frame)
        if not ok:
            _fail(path, f"ffmpeg failed writing {path.name}", err)
    return sent


#: ffmpeg's words for failures of the disk rather than of the video.
_DISK_ERRORS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES,
                "File name too long": errno.ENAMETOOLONG}


def _fail(path: Path, what: str, err: str) -> None:
    """Raise OSError (naming ``path``) for a disk failure, else VideoError with ffmpeg's words."""
    for words, code in _DISK_ERRORS.items():
        if words in err:
            raise OSError(code, os.strerror(code), str(path))
    raise VideoError(f"{what}:\n{err}")


def _run(cmd: list[str], frames: Iterator[bytes], env: Mapping[str, str],
         keep: list[bytes] | None = None, on_frame: Callable[[int], None] | None = None) -> tuple[bool, int, str]:
    sent = 0
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errfile, env=dict(env),
                                start_new_session=os.name == "posix")
        assert proc.stdin is not None
        try:
            for data in frames:
                if keep is not None:
                    keep.append(data)
                proc.stdin.write(data)
                sent += 1
                if on_frame is not None:
                    on_frame(sent)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:  # Ctrl-C or an error making frames: stop ffmpeg, keep nothing
            proc.kill()
            raise
        finally:
            if not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            code = proc.wait()
        errfile.seek(0)
        err = errfile.read().decode(*ENCODE_ARGS).strip()
    if "already exists" in err:
        code = code or 1
    return code == 0, sent, err


def mux_audio(video: str | os.PathLike[str], out: str | os.PathLike[str], waveform: Any, sample_rate: int,
              audio_args: Sequence[str], pad_to_seconds: float | None = None,
              env: Mapping[str, str] | None = None) -> Path:
    """Copy the video stream of ``video`` and add ``waveform`` ([1, channels, samples] float) as audio.

    ``pad_to_seconds`` pads the audio with silence to at least that long (VHS: video length
    + 1 s, unless trim_to_audio); ``-shortest`` then ends the file with the video. Written
    like :func:`encode`: complete under its name, or not there at all.
    """
    if os.path.lexists(out):
        raise FileExistsError(errno.EEXIST, "already exists; wfrun never replaces an output", str(out))
    array = waveform.detach().float().cpu().numpy() if hasattr(waveform, "detach") else np.asarray(waveform, np.float32)
    if array.ndim == 3:
        array = array[0]
    channels = array.shape[0]
    data = np.ascontiguousarray(array.T.astype("<f4")).tobytes()
    args = [ffmpeg_exe(), "-v", "error", "-n", "-i", str(video), "-ar", str(int(sample_rate)), "-ac", str(channels),
            "-f", "f32le", "-i", "-", "-c:v", "copy", *audio_args]
    if pad_to_seconds is not None:
        args += ["-af", f"apad=whole_dur={pad_to_seconds}"]
    merge_filter_args(args, "-af")
    with writing(out) as temp:
        args += ["-shortest", str(temp)]
        result = subprocess.run(args, input=data, capture_output=True, env=dict(os.environ, **(env or {})),
                                start_new_session=os.name == "posix")
        if result.returncode != 0:
            _fail(Path(out), f"ffmpeg failed adding audio to {Path(video).name}",
                  result.stderr.decode(*ENCODE_ARGS).strip())
    return Path(out)


def has_encoder(name: str) -> bool:
    """Whether this ffmpeg build has an encoder (e.g. ``libx265``)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True)
    return any(line.split()[1:2] == [name] for line in result.stdout.decode(*ENCODE_ARGS).splitlines()
               if len(line.split()) > 1)


#: How long the one-frame encoder probe may take (a driver that hangs must not hang the run).
PROBE_SECONDS = 30


@functools.lru_cache(maxsize=None)
def encoder_problem(name: str) -> str | None:
    """Why ffmpeg cannot encode with ``name`` on this machine, or None when it can.

    A hardware encoder (NVIDIA's ``h264_nvenc`` …) is compiled into the ffmpeg build whether
    or not the machine has the hardware: it fails only when opened, and only the driver
    knows (``Cannot load libcuda.so.1`` without NVIDIA's driver; compute GPUs such as the
    H100 have no NVENC at all). One black 256x256 frame encoded to nowhere tells, once per
    process, before a job spends its sampling time on a video it could not write."""
    if not has_encoder(name):
        return f"this ffmpeg build has no {name} encoder"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=256x256:r=1",
           "-frames:v", "1", "-pix_fmt", "yuv420p", "-c:v", name, "-f", "null", "-"]
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=PROBE_SECONDS, start_new_session=os.name == "posix")
    except subprocess.TimeoutExpired:
        return f"ffmpeg's {name} did not answer within {PROBE_SECONDS} s"
    except OSError as err:
        return f"ffmpeg could not start: {err.strerror or err}"
    if result.returncode == 0:
        return None
    lines = [re.sub(r"^(\[[^]]*\]\s*)+", "", line).strip()
             for line in result.stderr.decode(*ENCODE_ARGS).splitlines()]
    return next((line for line in lines if line), f"ffmpeg exited with status {result.returncode}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------------- audio streams

#: ffmpeg's channel layout names and their channel counts.
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "4.1": 5, "5.0": 5,
                    "5.0(side)": 5, "5.1": 6, "5.1(side)": 6, "6.0": 6, "6.1": 7, "7.0": 7, "7.1": 8}


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int  # among the file's audio streams (ffmpeg's ``0:a:N``)
    sample_rate: int
    channels: int


def audio_streams(path: str | os.PathLike[str]) -> list[AudioStreamInfo]:
    """The audio streams ffmpeg reports for a file (rate and channel count), in order."""
    import re

    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True)
    text = result.stderr.decode(*ENCODE_ARGS)
    found = []
    for line in text.splitlines():
        if "Stream #" not in line or "Audio:" not in line:
            continue
        match = re.search(r"Audio: .*?, (\d+) Hz, ([^,]+)", line)
        if not match:
            continue
        layout = match.group(2).strip()
        channels = _LAYOUT_CHANNELS.get(layout)
        if channels is None:
            counted = re.match(r"(\d+) channels", layout)
            channels = int(counted.group(1)) if counted else 2
        found.append(AudioStreamInfo(len(found), int(match.group(1)), channels))
    return found


def decode_audio(path: str | os.PathLike[str], stream: AudioStreamInfo,
                 max_samples: int | None = None) -> np.ndarray:
    """One audio stream decoded to float32 ``[channels, samples]`` at its own rate."""
    args = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", f"0:a:{stream.index}", "-vn",
            "-ac", str(stream.channels), "-ar", str(stream.sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    result = subprocess.run(args, capture_output=True)
    if result.returncode != 0:
        raise VideoError(f"{Path(path).name}: cannot decode its audio: {result.stderr.decode(*ENCODE_ARGS).strip()}")
    data = np.frombuffer(result.stdout, dtype="<f4")
    usable = len(data) // stream.channels * stream.channels
    samples = data[:usable].reshape(-1, stream.channels).T
    if max_samples is not None:
        samples = samples[:, :max_samples]
    return np.ascontiguousarray(samples, dtype=np.float32)


def pix_fmt_bit_depth(pix_fmt: str) -> int:
    """Bits per component of an ffmpeg pixel format name (``yuv420p10le`` → 10, else 8)."""
    import re

    match = re.search(r"p(\d+)(le|be)?$", pix_fmt.split("(")[0])
    return int(match.group(1)) if match else 8
