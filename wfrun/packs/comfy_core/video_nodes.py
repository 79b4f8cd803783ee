"""ComfyUI's core video nodes (``comfy_extras/nodes_video.py``) and Save Animated WEBP.

LoadVideo, GetVideoComponents, CreateVideo, SaveVideo and Video Slice pass a VIDEO value
(:class:`wfrun.media.video_value.Video`: frames, frame rate, optional audio, bit depth);
SaveWEBM and SaveAnimatedWEBP take an IMAGE batch. Every file is written as
``<prefix>_<counter:05>_.<ext>`` in the output folder, the counter one more than any existing
``<prefix>_<digits>…`` file (ComfyUI's ``get_save_image_path``), under a temporary name that
takes its own only when complete, and never replacing a file (a name taken meanwhile moves
to the next counter). The workflow is embedded as ComfyUI embeds it: MP4/WebM tags
``prompt``/``workflow`` (each value JSON), WebP EXIF ``0x0110 prompt:<json>`` and
``0x010F workflow:<json>``; :func:`wfrun.formats.source.read_workflow` reads them back.

Differences from ComfyUI, on purpose or of means:

* Decoding and encoding go through the bundled ffmpeg binary, not PyAV. LoadVideo decodes
  every frame to 8-bit RGB (ComfyUI decodes most YUV video to float RGB, so values can
  differ by up to one level, and 10-bit sources lose their extra precision); its frame rate
  is ffmpeg's stream rate where ComfyUI takes the average rate. Audio comes from the file's
  last audio stream, as in ComfyUI, decoded to float at its own sample rate.
* A VIDEO is always decoded frames: SaveVideo of a video straight from LoadVideo
  re-encodes it (ComfyUI copies the file's streams when nothing changed).
* SaveVideo writes what our specs' revision offers: MP4 with H.264 (``auto`` is the same),
  8-bit ``yuv420p`` or 10-bit ``yuv420p10le`` by the video's bit depth, BT.709 and sRGB
  tags, x264's default quality, AAC audio cut to the video's length.
* Video Slice (:func:`video_slice`) cuts the decoded frames, frame ``i`` being at ``i / fps``
  seconds; ComfyUI cuts the file at its packets' timestamps (the same frames for a file
  starting at 0 at a constant rate). Slicing a slice cuts what the first slice kept, where
  ComfyUI re-reads the file from the added-up start with the new duration (which may reach
  past the first slice's end).
* RGBA frames lose their alpha in SaveVideo (ComfyUI fails on them); SaveWEBM keeps it with
  vp9, as ComfyUI does.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from wfrun.atomic import remove_quietly, temp_beside, writing
from wfrun.media.image import MediaPathError, SaveTarget, save_target, workflow_metadata
from wfrun.media.video import (VideoError, audio_streams, decode_audio, encode, iter_frames, mux_audio,
                               pix_fmt_bit_depth, probe)
from wfrun.media.video_value import Video
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file, record
from wfrun.packs.comfy_core.values import (choice_input, describe, float_input, image_input, int_input)

#: ComfyUI's Save Animated WEBP ``method`` names and libwebp's effort levels.
WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}
#: SaveWEBM's codecs and the ffmpeg encoders ComfyUI uses for them.
WEBM_ENCODERS = {"vp9": "libvpx-vp9", "av1": "libsvtav1"}
#: Most numbered names tried before giving up (each taken by another writer meanwhile).
MAX_NAME_TRIES = 1000


def video_input(value: Any, name: str = "video") -> Video:
    if not isinstance(value, Video):
        raise NodeInputError(name, f"{name}: expected a VIDEO, found {describe(value)}",
                             "connect a Load Video or Create Video output")
    return value


def _target(ctx: ExecContext, filename_prefix: Any, width: int, height: int) -> SaveTarget:
    try:
        return save_target(ctx.output_dir, filename_prefix, width, height)
    except MediaPathError as err:
        raise NodeInputError("filename_prefix", str(err), "use a name or a relative sub-folder/name") from None


def _save_numbered(ctx: ExecContext, target: SaveTarget, ext: str, write: Callable[[Path], None]) -> Path:
    """``write(path)`` at ``<name>_<counter>_.<ext>``, moving on when another writer took the name."""
    counter = target.counter
    for _ in range(MAX_NAME_TRIES):
        path = target.folder / f"{target.filename}_{counter:05}_.{ext}"
        if not path.exists():
            try:
                write(path)
            except FileExistsError:
                pass
            else:
                record(ctx, path)
                return path
        counter += 1
    raise NodeInputError("filename_prefix", f"no free file name after {MAX_NAME_TRIES} tries in {target.folder}")


def _frame_watch(ctx: ExecContext) -> Callable[[int], None]:
    """Between frames: Ctrl-C stops the writer, whose partial file is then removed."""
    def on_frame(_: int) -> None:
        ctx.check_interrupt()
    return on_frame


def _truncated_bytes(images: torch.Tensor, channels: int, sixteen_bits: bool = False) -> Iterator[bytes]:
    """Frames as ComfyUI hands them to the encoder: ``(x * 255).clamp(0, 255)`` truncated to
    8 bits (or ``x * 65535`` to 16 bits), little-endian."""
    top = 65535.0 if sixteen_bits else 255.0
    dtype = np.dtype("<u2") if sixteen_bits else np.uint8
    for frame in images:
        array = frame[..., :channels].detach().float().cpu().numpy()
        yield np.clip(array * top, 0, top).astype(dtype).tobytes()


def _fail_video(err: VideoError, input_name: str) -> NodeInputError:
    return NodeInputError(input_name, str(err))


# ---------------------------------------------------------------------------- load and take apart

def _video_files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    return {"file": (inputs.get("file"), "video")}


# volatile: the file may change between runs
@executor("LoadVideo", volatile=True, input_files=_video_files)
def load_video(ctx: ExecContext, file: str, **_: Any) -> tuple:
    path = input_file(ctx, file, "file", "video")
    try:
        info = probe(path, count_frames=False)
        frames = [torch.from_numpy(np.asarray(f, dtype=np.float32) / 255.0) for f in iter_frames(path)]
    except VideoError as err:
        raise NodeInputError("file", str(err), "use an mp4, webm, mkv, mov or gif file") from None
    if not frames:
        raise NodeInputError("file", f"{path.name}: ffmpeg decoded no frames from it", "check the file plays")
    images = torch.stack(frames)
    del frames
    audio = None
    streams = audio_streams(path)
    if streams:
        stream = streams[-1]  # ComfyUI takes the last audio stream it can decode
        try:
            samples = decode_audio(path, stream)
        except VideoError as err:
            raise NodeInputError("file", str(err)) from None
        if samples.shape[1] > 0:
            audio = {"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": stream.sample_rate}
    fps = info.fps if info.fps > 0 else 1.0  # ComfyUI's fallback when a file states no rate
    return (Video(images, fps, audio, pix_fmt_bit_depth(info.pix_fmt), path),)


@executor("GetVideoComponents")
def get_video_components(ctx: ExecContext, video: Any, **_: Any) -> tuple:
    """Frames, audio, fps, bit depth and (newer signature) the colour space: wfrun's videos
    are sRGB (CreateVideo refuses HDR)."""
    video = video_input(video)
    return video.images, video.audio, float(video.fps), int(video.bit_depth), "sRGB"


@executor("CreateVideo")
def create_video(ctx: ExecContext, images: Any, fps: Any, *, audio: Any = None, bit_depth: Any,
                 **options: Any) -> tuple:
    """A VIDEO from frames. ``bit_depth`` 8 or 10 (``auto``, in newer saves, is 8: sRGB).
    Newer saves also set ``color_space`` (only sRGB is made here: HDR is refused by name) and
    ``codec`` (``none`` keeps frames; ComfyUI's ``auto``/``h264`` encode at once, which for
    wfrun, writing H.264 when saving, comes to the same; ``av1`` is refused)."""
    color = options.get("color_space")
    if color not in (None, "sRGB"):
        raise NodeInputError("color_space", f"color_space is {color!r}; wfrun makes sRGB videos only",
                             "choose sRGB")
    codec = options.get("codec")
    if codec not in (None, "none", "auto", "h264"):
        raise NodeInputError("codec", f"codec is {codec!r}; wfrun writes H.264 only", "choose none or h264")
    images = image_input(images, "images")
    fps = float_input(fps, "fps", above=0.0)
    depth = 8 if bit_depth in (None, "auto") else int_input(bit_depth, "bit_depth")
    if depth not in (8, 10):
        raise NodeInputError("bit_depth", f"bit_depth is {depth}; expected 8 or 10")
    if audio is not None:
        audio = _audio_input(audio)
    return (Video(images, fps, audio, depth),)


#: Slack in seconds when a frame's time meets a window edge (``i / fps`` against a typed time).
TIME_SLACK = 1e-9


@executor("Video Slice")
def video_slice(ctx: ExecContext, video: Any, start_time: Any, duration: Any, strict_duration: Any,
                **_: Any) -> tuple:
    """The frames from ``start_time`` for ``duration`` seconds (0: to the end), as ComfyUI's
    ``as_trimmed``: a frame is kept when its time is at least the start and, with a duration,
    before start + duration; a negative start counts back from the end (at least 0). The
    audio is cut to the same window (``start · rate`` samples skipped, ``duration · rate``
    kept). ``strict_duration``: fail when less than ``duration`` remains after the start.
    A video made by CreateVideo (not from a file) fails, as in ComfyUI, when the window's end
    is past its duration, strict or not; a window holding no frame fails too."""
    video = video_input(video)
    start = float_input(start_time, "start_time", -1e5, 1e5)
    length = float_input(duration, "duration", 0.0)
    total = video.frame_count / video.fps
    if video.source is None and total < start + length:
        raise NodeInputError("duration", f"the video lasts {total:g} s; a window from {start:g} s for {length:g} s "
                             "ends past it", "shorten the duration or start earlier")
    begin = max(total + start, 0.0) if start < 0 else start
    remaining = total - begin if start >= 0 else min(total, -start)
    if bool(strict_duration) and length and remaining < length - TIME_SLACK:
        raise NodeInputError("duration", f"{remaining:g} s remain after {begin:g} s; {length:g} s were asked "
                             "for with strict_duration", "turn strict_duration off or shorten the duration")
    times = torch.arange(video.frame_count, dtype=torch.float64) / video.fps
    keep = times >= begin - TIME_SLACK
    if length:
        keep &= times < begin + length - TIME_SLACK
    if not bool(keep.any()):
        raise NodeInputError("start_time", f"no frame of the {total:g} s video lies from {begin:g} s"
                             + (f" for {length:g} s" if length else ""), "start within the video")
    audio = video.audio
    if audio is not None:
        rate = float(audio["sample_rate"])
        first = int(begin * rate)
        samples = audio["waveform"][..., first:]
        if length:
            samples = samples[..., :int(length * rate)]
        audio = {**audio, "waveform": samples}
    return (Video(video.images[keep], video.fps, audio, video.bit_depth, video.source),)


def _audio_input(audio: Any) -> dict[str, Any]:
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or isinstance(rate, bool) \
            or not isinstance(rate, (int, float)) or rate <= 0:
        raise NodeInputError("audio", "audio: expected an AUDIO value {waveform: [1, channels, samples], "
                             f"sample_rate}}, found {describe(audio)}")
    return audio


# ---------------------------------------------------------------------------- save

@executor("SaveVideo")
def save_video(ctx: ExecContext, video: Any, filename_prefix: str, format: Any, codec: Any,
               **options: Any) -> tuple:
    """Newer saves nest the codec in the format (``format.codec``, with ``…encoding``
    ``auto`` or ``re-encode`` at a ``crf``); the format's codec wins over the top-level one,
    as in ComfyUI. wfrun writes H.264 in MP4 with its own settings: ``re-encode`` is refused."""
    video = video_input(video)
    container = format.get("format") if isinstance(format, dict) else format
    if container not in ("auto", "mp4"):
        raise NodeInputError("format", f"format is {container!r}; wfrun writes auto or mp4",
                             "choose mp4 (auto is mp4 for H.264)")
    nested = options.get("format.codec")
    name = "format.codec" if nested is not None else "codec"
    codec_name = nested if nested is not None else codec.get("codec") if isinstance(codec, dict) else codec
    if codec_name not in ("auto", "h264", None):
        raise NodeInputError(name, f"codec is {codec_name!r}; wfrun writes auto or h264", "choose h264")
    encoding = next((options[k] for k in (f"{name}.encoding",) if options.get(k) is not None), None)
    if encoding not in (None, "auto"):
        raise NodeInputError(f"{name}.encoding", f"encoding is {encoding!r}; wfrun encodes with its own settings",
                             "choose auto")
    if video.frame_count == 0:
        raise NodeInputError("video", "the video has no frames")
    if video.width % 2 or video.height % 2:
        raise NodeInputError("video", f"H.264 in 4:2:0 needs an even width and height; the frames are "
                             f"{video.width}x{video.height}", "resize the frames to an even size first")
    target = _target(ctx, filename_prefix, video.width, video.height)
    metadata = workflow_metadata(ctx.workflow_json)

    def write(path: Path) -> None:
        try:
            if video.audio is None:
                _encode_h264(ctx, video, path, metadata)
                return
            silent = temp_beside(path)
            try:
                _encode_h264(ctx, video, silent, metadata)
                ctx.check_interrupt()
                rate = int(video.audio["sample_rate"])
                frame_rate = Fraction(round(video.fps * 1000), 1000)
                keep = math.ceil(rate / frame_rate * video.frame_count)
                waveform = video.audio["waveform"][0, :, :keep]
                mux_audio(silent, path, waveform, rate, ["-c:a", "aac", "-movflags", "use_metadata_tags"])
            finally:
                remove_quietly(silent)
        except VideoError as err:
            ctx.check_interrupt()
            raise _fail_video(err, "video") from None

    _save_numbered(ctx, target, "mp4", write)
    return (video,)


def _encode_h264(ctx: ExecContext, video: Video, path: Path, metadata: dict[str, Any]) -> None:
    ten = video.bit_depth >= 10
    args = ["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p10le" if ten else "yuv420p",
            "-vf", "scale=out_color_matrix=bt709:out_range=tv",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "iec61966-2-1",
            "-color_range", "tv"]
    encode(_truncated_bytes(video.images, 3, sixteen_bits=ten), path, width=video.width, height=video.height,
           frame_rate=Fraction(round(video.fps * 1000), 1000), output_args=args,
           input_pix_fmt="rgb48le" if ten else "rgb24", metadata=metadata, on_frame=_frame_watch(ctx))


@executor("SaveWEBM")
def save_webm(ctx: ExecContext, images: Any, filename_prefix: str, codec: Any, fps: Any, crf: Any,
              **_: Any) -> tuple:
    images = image_input(images, "images")
    codec = choice_input(codec, "codec", tuple(WEBM_ENCODERS))
    fps = float_input(fps, "fps", above=0.0)
    crf = float_input(crf, "crf", low=0.0, high=63.0)
    alpha = images.shape[-1] == 4 and codec == "vp9"
    height, width = int(images.shape[1]), int(images.shape[2])
    target = _target(ctx, filename_prefix, width, height)
    args = ["-n", "-c:v", WEBM_ENCODERS[codec], "-crf", f"{crf:g}", "-b:v", "0"]
    if codec == "av1":
        args += ["-preset", "6", "-pix_fmt", "yuv420p10le"]
    else:
        args += ["-pix_fmt", "yuva420p" if alpha else "yuv420p"]
    metadata = workflow_metadata(ctx.workflow_json)

    def write(path: Path) -> None:
        try:
            encode(_truncated_bytes(images, 4 if alpha else 3), path, width=width, height=height,
                   frame_rate=Fraction(round(fps * 1000), 1000), output_args=args,
                   input_pix_fmt="rgba" if alpha else "rgb24", metadata=metadata, on_frame=_frame_watch(ctx))
        except VideoError as err:
            ctx.check_interrupt()
            raise _fail_video(err, "images") from None

    _save_numbered(ctx, target, "webm", write)
    return (images,)


@executor("SaveAnimatedWEBP")
def save_animated_webp(ctx: ExecContext, images: Any, filename_prefix: str, fps: Any, lossless: Any,
                       quality: Any, method: Any, **_: Any) -> tuple:
    """All frames in one animated WebP, ``int(1000 / fps)`` ms each, the workflow in EXIF."""
    from PIL import Image

    images = image_input(images, "images")
    fps = float_input(fps, "fps", above=0.0)
    quality = int_input(quality, "quality", 0, 100)
    effort = WEBP_METHODS[choice_input(method, "method", tuple(WEBP_METHODS))]
    if images.shape[-1] not in (1, 3, 4):
        raise NodeInputError("images", f"images have {images.shape[-1]} channels; WebP takes 3 (RGB) or 4 (RGBA)")
    target = _target(ctx, filename_prefix, int(images.shape[2]), int(images.shape[1]))
    exif = Image.Exif()
    meta = workflow_metadata(ctx.workflow_json)
    if "prompt" in meta:
        exif[0x0110] = "prompt:{}".format(json.dumps(meta["prompt"]))
    tag = 0x010F
    for key, value in meta.items():
        if key != "prompt":
            exif[tag] = "{}:{}".format(key, json.dumps(value))
            tag -= 1

    def pictures() -> Iterable[Any]:
        for frame in images:
            ctx.check_interrupt()
            array = np.clip(255.0 * frame.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
            yield Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)

    def write(path: Path) -> None:
        frames = iter(pictures())
        first = next(frames)
        with writing(path) as temp, open(temp, "xb") as handle:
            first.save(handle, format="WEBP", save_all=True, duration=int(1000.0 / fps), append_images=frames,
                       exif=exif, lossless=bool(lossless), quality=quality, method=effort)

    _save_numbered(ctx, target, "webp", write)
    return (images,)
