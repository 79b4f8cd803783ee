"""VHS_LoadVideo and VHS_VideoCombine.

VHS_LoadVideo follows VHS's OpenCV frame loop (``cv_frame_generator``) on frames decoded by
ffmpeg: ``force_rate`` resamples in time by dropping or repeating frames, then
``skip_first_frames``, then every ``select_every_nth``, up to ``frame_load_cap``. The
``format`` preset (``AnimateDiff`` by default: sizes rounded to multiples of 8; ``Wan``: 8 and
4n+1 frames; ``None``: untouched) and ``custom_width``/``custom_height`` decide the size; a
resize is lanczos with a centre crop. Old saves with ``force_size`` are read as VHS's older
code read them.

VHS_VideoCombine writes, like VHS, ``<prefix>_<counter:05>.png`` (the first frame, with the
workflow in its text chunks, unless the workflow's ``extra.VHS_MetadataImage`` is false) and
``<prefix>_<counter:05>.<ext>``; the counter is one more than any existing
``<prefix>_<digits>…`` file, and nothing is ever replaced. The workflow is embedded in the
video's metadata (``prompt``/``workflow`` tags) when ``save_metadata`` is on. ``save_output``
off writes to the temp folder (``<output>/temp``). Returns ``(save_output, [paths])``.

VHS_LoadVideo's ``audio`` is the file's sound as VHS's ``get_audio`` reads it (ffmpeg's own
choice of stream, mono or stereo, at its rate), cut where the loaded frames are: from
``skip_first_frames`` frame times (at ``force_rate``, or the file's rate) for
``frame_load_cap`` frame times of the selection (times ``select_every_nth``; 0: to the end).
VHS reads it only when a node uses it and fails there if the file has no sound; wfrun reads
it at load and gives ``None`` for a file without sound (or with more than two channels,
which VHS cannot read), so only a node that needs the sound stops, naming its input.

Not reproduced: ``meta_batch`` beyond one batch (``meta_batch.py``), the ``vae``
inputs (latents in or out), and the formats listed in ``formats.NOT_MADE``. Decoding uses
ffmpeg's RGB conversion rather than OpenCV's, which can differ by a level or so per channel.

Loading straight to latents is refused rather than emulated: VHS encodes frame batches as
images and rounds sizes by the VAE's single ``downscale_ratio``, but every VAE wfrun loads is
a video VAE whose ComfyUI ``downscale_ratio`` is a per-axis tuple, so in ComfyUI the node
fails there; no result exists to reproduce. A VAE that Anything Everywhere broadcasts never
gets here: VHS drops or refuses it (``graph.everywhere``).
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from wfrun.atomic import writing
from wfrun.nodes.executor import NodeInputError
from wfrun.media.image import (MediaPathError, common_upscale, save_target, workflow_metadata, write_png)
from wfrun.media.audio import AudioError, read_ffmpeg_default
from wfrun.media.video import VideoError, encode, encoder_problem, frames_to_bytes, iter_frames, mux_audio, probe
from wfrun.nodes.executor import ExecContext, executor
from wfrun.nodes.files import input_file, record, temp_dir
from wfrun.packs.vhs.formats import FORMATS, NOT_MADE, hardware_encoder_message, supported_formats
from wfrun.packs.vhs.meta_batch import check_batch, meta_batch_of
from wfrun.packs.vhs.upload_2023 import october_outputs, upload_path

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- loading

#: VHS's load presets: (downscale_ratio, …) in 'dim', frame count rule (div, mod) in 'frames'.
LOAD_FORMATS: dict[str, dict[str, Any]] = {
    "None": {},
    "AnimateDiff": {"target_rate": 8, "dim": (8, 0, 512, 512)},
    "Mochi": {"target_rate": 24, "dim": (16, 0, 848, 480), "frames": (6, 1)},
    "LTXV": {"target_rate": 24, "dim": (32, 0, 768, 512), "frames": (8, 1)},
    "Hunyuan": {"target_rate": 24, "dim": (16, 0, 848, 480), "frames": (4, 1)},
    "Cosmos": {"target_rate": 24, "dim": (16, 0, 1280, 704), "frames": (8, 1)},
    "Wan": {"target_rate": 16, "dim": (8, 0, 832, 480), "frames": (4, 1)},
}


def strip_path(path: str) -> str:
    path = path.strip()
    if path.startswith('"'):
        path = path[1:]
    if path.endswith('"'):
        path = path[:-1]
    return path


def target_size(width: int, height: int, custom_width: int, custom_height: int,
                downscale_ratio: int | None = 8) -> tuple[int, int]:
    """VHS's output size: a 0 custom side follows the aspect; then rounded to the ratio."""
    ratio = 8 if downscale_ratio is None else downscale_ratio
    w, h = float(width), float(height)
    if custom_width == 0 and custom_height == 0:
        pass
    elif custom_height == 0:
        h *= custom_width / w
        w = custom_width
    elif custom_width == 0:
        w *= custom_height / h
        h = custom_height
    else:
        w, h = custom_width, custom_height
    return int(w / ratio + 0.5) * ratio, int(h / ratio + 0.5) * ratio


def select_frames(frames: Iterable[np.ndarray], fps: float, force_rate: float, frame_load_cap: int,
                  skip_first_frames: int, select_every_nth: int) -> Iterator[np.ndarray]:
    """The frame loop of VHS's ``cv_frame_generator`` over decoded frames."""
    source = iter(frames)
    current = next(source, None)
    if current is None:
        return
    base = 1 / fps
    target = base if force_rate == 0 else 1 / force_rate
    offset = target
    seen = 0
    evaluated = -1
    added = 0
    while True:
        if offset < target:
            current = next(source, None)
            if current is None:
                break
            offset += base
        if offset < target:
            continue
        offset -= target
        seen += 1
        if seen <= skip_first_frames:
            continue
        evaluated += 1
        if evaluated % select_every_nth != 0:
            continue
        yield current
        added += 1
        if frame_load_cap > 0 and added >= frame_load_cap:
            break


_OLD_FIXED = re.compile(r"^(\?|\d+)x(\?|\d+)$")


def _from_force_size(force_size: str, custom_width: int, custom_height: int) -> tuple[int, int, str]:
    """(custom_width, custom_height, format) for a save from before VHS removed ``force_size``."""
    if force_size == "Disabled":
        return 0, 0, "None"
    if force_size == "Custom Width":
        return custom_width, 0, "AnimateDiff"
    if force_size == "Custom Height":
        return 0, custom_height, "AnimateDiff"
    if force_size == "Custom":
        return custom_width, custom_height, "AnimateDiff"
    match = _OLD_FIXED.match(force_size)
    if match:
        w, h = (0 if part == "?" else int(part) for part in match.groups())
        return w, h, "AnimateDiff"
    raise NodeInputError("force_size", f"unknown force_size {force_size!r}", "use Disabled, Custom or a size like 512x?")


def _video_files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    video = inputs.get("video")
    return {"video": (strip_path(video) if isinstance(video, str) else None, "video")}


# volatile: the file may change between runs
@executor("VHS_LoadVideo", volatile=True, input_files=_video_files)
def load_video(ctx: ExecContext, video: str, force_rate: float, custom_width: int, custom_height: int,
               frame_load_cap: int, skip_first_frames: int, select_every_nth: int,
               *, meta_batch: Any = None, vae: Any = None, format: str, force_size: str | None = None,
               desired_frame_rate: float | None = None, upload_to_directory: str | None = None,
               **_: Any) -> tuple:
    if upload_to_directory is not None:  # that day's VHS_LoadVideo was the upload node (upload_2023.py)
        return load_video_upload(ctx, video, upload_to_directory, desired_frame_rate, force_size, frame_load_cap,
                                 skip_first_frames, select_every_nth)

    def locate() -> Path:
        if not isinstance(video, str):
            raise NodeInputError("video", f"expected a file name, found {type(video).__name__}")
        return input_file(ctx, strip_path(video), "video", "video")

    return read_video(locate, force_rate, custom_width, custom_height, frame_load_cap, skip_first_frames,
                      select_every_nth, meta_batch=meta_batch, vae=vae, format=format, force_size=force_size,
                      desired_frame_rate=desired_frame_rate)


# volatile: the file may change between runs
@executor("VHS_LoadVideoUpload", volatile=True)
def load_video_upload(ctx: ExecContext, video: Any, upload_to_directory: Any, desired_frame_rate: float,
                      force_size: str, frame_load_cap: int, skip_first_frames: int, select_every_nth: int,
                      **_: Any) -> tuple:
    """VHS_LoadVideo's work on a 2023-10-20 upload (``upload_2023.py``), with that day's outputs."""
    loaded = read_video(lambda: upload_path(ctx, video, upload_to_directory), desired_frame_rate, 0, 0,
                        frame_load_cap, skip_first_frames, select_every_nth, meta_batch=None, vae=None,
                        format="None", force_size=force_size, desired_frame_rate=desired_frame_rate)
    return october_outputs(loaded, desired_frame_rate)


def trim_to_format(images: torch.Tensor, preset: dict, format: str) -> torch.Tensor:
    """The frames cut to the load format's ``div·n + mod`` count (Wan: 4n+1), as the pack cuts
    them; too few frames for one such count is refused on ``frame_load_cap``."""
    if "frames" in preset and len(images) % preset["frames"][0] != preset["frames"][1]:
        div, mod = preset["frames"][:2]
        keep = (len(images) - mod) // div * div + mod
        if keep <= 0:
            raise NodeInputError("frame_load_cap", f"{len(images)} frames cannot make a {div}n+{mod} count for "
                                 f"format {format}", "load more frames")
        images = images[:keep]
    return images


def read_video(locate: Any, force_rate: float, custom_width: int, custom_height: int, frame_load_cap: int,
               skip_first_frames: int, select_every_nth: int, *, meta_batch: Any, vae: Any, format: str,
               force_size: str | None, desired_frame_rate: float | None) -> tuple:
    """VHS_LoadVideo's work once its inputs are checked; ``locate()`` gives the file (or raises
    NodeInputError), called after the other inputs are checked. VHS_LoadVideoPath shares it."""
    meta_batch = meta_batch_of(meta_batch)
    if vae is not None:
        raise NodeInputError("vae", "VideoHelperSuite cannot load straight to latents with a video VAE "
                             "such as Wan's (in ComfyUI the node fails: it needs one downscale factor, "
                             "a video VAE has one per axis)",
                             "disconnect vae and encode the IMAGE output with the workflow's VAE encode node")
    if desired_frame_rate is not None:
        force_rate = desired_frame_rate
    if force_size is not None:  # a save from before VHS replaced force_size with format
        custom_width, custom_height, format = _from_force_size(str(force_size), custom_width, custom_height)
    if format not in LOAD_FORMATS:
        raise NodeInputError("format", f"unknown format {format!r}", f"use one of {', '.join(LOAD_FORMATS)}")
    if select_every_nth < 1:
        raise NodeInputError("select_every_nth", f"select_every_nth is {select_every_nth}", "use 1 or more")
    preset = LOAD_FORMATS[format]
    ratio = preset.get("dim", (1,))[0]
    path = locate()
    try:
        info = probe(path)
    except VideoError as err:
        raise NodeInputError("video", str(err), "use an mp4, webm, mkv, mov or gif file") from None
    if info.fps <= 0:
        raise NodeInputError("video", f"{path.name}: ffmpeg reports no frame rate")
    width, height = info.width, info.height
    new_w, new_h = target_size(width, height, custom_width, custom_height, ratio)
    if new_w <= 0 or new_h <= 0:
        raise NodeInputError("custom_width", f"the loaded frames would be {new_w}x{new_h}", "use a larger size")
    try:
        chosen = list(select_frames(iter_frames(path), info.fps, force_rate, frame_load_cap, skip_first_frames,
                                    select_every_nth))
    except VideoError as err:
        raise NodeInputError("video", str(err)) from None
    if meta_batch is not None:
        check_batch(meta_batch, preset["frames"][:2] if "frames" in preset else None,
                    len(chosen), format)
    if not chosen:
        raise NodeInputError("skip_first_frames", f"no frames were loaded from {path.name} "
                             f"({info.frame_count} frames, skipping {skip_first_frames})",
                             "skip fewer frames")
    images = torch.from_numpy(np.stack(chosen).astype(np.float32) / 255.0)
    del chosen
    if (new_w, new_h) != (width, height):
        step = max(1, (1920 * 1080 * 16) // (width * height))
        images = torch.cat([common_upscale(images[i:i + step].movedim(-1, 1), new_w, new_h, "lanczos", "center")
                            .movedim(1, -1) for i in range(0, len(images), step)])
    images = trim_to_format(images, preset, format)
    base_time = 1 / info.fps if force_rate == 0 else 1 / force_rate
    frame_time = base_time * select_every_nth
    audio = video_audio(path, skip_first_frames * base_time, frame_load_cap * frame_time)
    video_info = {
        "source_fps": info.fps,
        "source_frame_count": info.frame_count,
        "source_duration": info.frame_count / info.fps,
        "source_width": width,
        "source_height": height,
        "loaded_fps": 1 / frame_time,
        "loaded_frame_count": len(images),
        "loaded_duration": len(images) * frame_time,
        "loaded_width": new_w,
        "loaded_height": new_h,
    }
    return images, len(images), audio, video_info


def video_audio(path: Path, start: float, duration: float) -> dict | None:
    """The AUDIO of a loaded video (module docs); None when it has no sound VHS could read."""
    try:
        sound = read_ffmpeg_default(path, start, duration)
    except AudioError as err:
        log.info("VHS_LoadVideo: no audio from %s (%s)", path.name, err)
        return None
    return {"waveform": torch.from_numpy(sound.samples).unsqueeze(0), "sample_rate": sound.sample_rate}


# ---------------------------------------------------------------------------- combining

def to_pingpong(frames: Any) -> Iterator[Any]:
    """Forward, then backward without repeating the last or the first frame."""
    yield from frames
    for i in range(len(frames) - 2, 0, -1):
        yield frames[i]


def vhs_counter(folder: Path, filename: str) -> int:
    """One more than the largest ``<filename>_<digits>…`` file in ``folder`` (VHS's rule)."""
    matcher = re.compile(f"{re.escape(filename)}_(\\d+)\\D*\\..+", re.IGNORECASE)
    best = 0
    for entry in os.listdir(folder):
        match = matcher.fullmatch(entry)
        if match:
            best = max(best, int(match.group(1)))
    return best + 1


def _extra_options(workflow_json: Any) -> dict[str, Any]:
    if isinstance(workflow_json, dict) and isinstance(workflow_json.get("extra"), dict):
        return workflow_json["extra"]
    return {}


def _pad_even(images: Iterable[torch.Tensor], pad: tuple[int, int, int, int]) -> Iterator[torch.Tensor]:
    padfunc = torch.nn.ReplicationPad2d(pad)
    for image in images:
        yield padfunc(image.permute(2, 0, 1).float()).permute(1, 2, 0)


@executor("VHS_VideoCombine")
def video_combine(ctx: ExecContext, frame_rate: float, loop_count: int, *, images: Any = None, latents: Any = None,
                  filename_prefix: str, format: str = "image/gif", pingpong: bool,
                  save_output: bool, save_image: bool | None = None, audio: Any = None,
                  meta_batch: Any = None, vae: Any = None, **kwargs: Any) -> tuple:
    if save_image is not None:  # the oldest saves named save_output save_image
        save_output = bool(save_image)
    # a list save of the node's widgets (a frontend that skipped VHS's dict serialization)
    # holds the format's widgets after ``format``, bound as ``format.<widget>`` (its spec
    # from 2024-12-12); the API and dict saves name them plainly
    kwargs = {name.removeprefix("format."): value for name, value in kwargs.items()}
    if latents is not None:
        images = latents
    meta_batch_of(meta_batch)  # one batch: written as without the manager (packs/vhs/meta_batch.py)
    if vae is not None and not isinstance(images, dict):
        vae = None  # as VHS: the VAE only decodes latents; beside images it is ignored
    if vae is not None or isinstance(images, dict):
        raise NodeInputError("vae" if vae is not None else "images",
                             "saving latents through a VAE is not supported by wfrun",
                             "decode with the workflow's VAE decode node and connect its IMAGE")
    if images is None or (isinstance(images, torch.Tensor) and images.shape[0] == 0):
        return ((save_output, []),)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE [frames, height, width, channels]")
    if not frame_rate or frame_rate <= 0:
        raise NodeInputError("frame_rate", f"frame_rate is {frame_rate}", "use a positive frame rate")
    if "/" not in str(format):
        raise NodeInputError("format", f"unknown format {format!r}", f"use one of {', '.join(supported_formats())}")
    format_type, format_ext = str(format).split("/", 1)
    video_format = None
    if format_type == "image":
        if format_ext not in ("gif", "webp"):
            raise NodeInputError("format", f"unknown format {format!r}", f"use one of {', '.join(supported_formats())}")
    else:
        if format_ext in NOT_MADE:
            raise NodeInputError("format", f"wfrun cannot write {format}: {NOT_MADE[format_ext]}")
        video_format = FORMATS.get(format_ext)
        if video_format is None:
            raise NodeInputError("format", f"unknown format {format!r}", f"use one of {', '.join(supported_formats())}")
        if video_format.encoder and (problem := encoder_problem(video_format.encoder)):
            raise NodeInputError("format", hardware_encoder_message(format, video_format, problem),
                                 f"use video/{video_format.software_twin}")

    first = images[0]
    folder = ctx.output_dir if save_output else temp_dir(ctx)
    try:
        target = save_target(folder, filename_prefix)
    except MediaPathError as err:
        raise NodeInputError("filename_prefix", str(err), "use a name or a relative sub-folder/name") from None
    filename = target.filename
    metadata = workflow_metadata(ctx.workflow_json)
    extra = _extra_options(ctx.workflow_json)
    ext = format_ext if video_format is None else video_format.extension

    counter = vhs_counter(target.folder, filename)
    while any((target.folder / f"{filename}_{counter:05}{tail}").exists()
              for tail in (".png", f".{ext}", f"-audio.{ext}")):
        counter += 1
    output_files: list[Path] = []

    if extra.get("VHS_MetadataImage", True) is not False:
        png_text = dict(metadata)
        png_text["CreationTime"] = datetime.datetime.now().isoformat(" ")[:19]
        png = target.folder / f"{filename}_{counter:05}.png"
        array = np.clip(first.detach().float().cpu().numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
        write_png(png, array, png_text, compress_level=4)
        record(ctx, png)
        output_files.append(png)

    file_path = target.folder / f"{filename}_{counter:05}.{ext}"
    total = images.shape[0] + (max(0, images.shape[0] - 2) if pingpong else 0)
    with _FrameWatch(ctx, total, file_path.name) as watch:
        if video_format is None:
            _save_pillow(images, file_path, format_ext, frame_rate, loop_count, pingpong, kwargs, watch)
        else:
            frames, count = _encode_video(images, file_path, video_format, frame_rate, loop_count, pingpong,
                                          metadata, kwargs, watch)
    record(ctx, file_path)
    output_files.append(file_path)
    if video_format is not None:
        waveform = audio.get("waveform") if isinstance(audio, dict) else None
        if waveform is not None:
            with_audio = target.folder / f"{filename}_{counter:05}-audio.{ext}"
            values = video_format.values(kwargs)
            audio_args = list(video_format.audio_args or ("-c:a", "libopus"))
            pad = None if video_format.trim_to_audio(values) else frames / frame_rate + 1
            ctx.check_interrupt()
            try:
                mux_audio(file_path, with_audio, waveform, int(audio["sample_rate"]), audio_args, pad,
                          env=video_format.env)
            except (VideoError, KeyError) as err:
                ctx.check_interrupt()  # ffmpeg stopped by the Ctrl-C: that is the news, not ffmpeg's words
                raise NodeInputError("audio", f"cannot add the audio: {err}") from None
            record(ctx, with_audio)
            output_files.append(with_audio)
    if extra.get("VHS_KeepIntermediate", True) is False:
        for intermediate in output_files[1:-1]:
            intermediate.unlink(missing_ok=True)
            ctx.written[:] = [p for p in ctx.written if p != intermediate]
        output_files = output_files[:1] + output_files[-1:] if len(output_files) > 1 else output_files
    return ((save_output, [str(p) for p in output_files]),)


class _FrameWatch:
    """Between frames of a file being written: a progress line (the run's progress, when it
    has a ``writing`` bar) and the Ctrl-C check, so an interrupt stops the writer, whose
    partial file is then removed, instead of finishing or truncating it under its name."""

    def __init__(self, ctx: ExecContext, total: int, name: str):
        self._ctx = ctx
        opener = getattr(ctx.progress, "writing", None) if ctx.progress is not None else None
        self._bar = opener(total, f"writing {name}") if opener is not None else None
        self._shown = 0

    def __call__(self, sent: int) -> None:
        self._ctx.check_interrupt()
        if self._bar is not None and sent > self._shown:  # a retry re-sends frames: count once
            self._bar.update(sent - self._shown)
            self._shown = sent

    def __enter__(self) -> "_FrameWatch":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.close()


def _save_pillow(images: torch.Tensor, path: Path, ext: str, frame_rate: float, loop_count: int, pingpong: bool,
                 kwargs: dict[str, Any], on_frame: Any = None) -> None:
    """An animated GIF/WebP through Pillow, written like every output (:mod:`wfrun.atomic`)."""
    from PIL import ExifTags, Image

    options: dict[str, Any] = {}
    if ext == "gif":
        options["disposal"] = 2
    else:
        exif = Image.Exif()
        exif[ExifTags.IFD.Exif] = {36867: datetime.datetime.now().isoformat(" ")[:19]}
        options["exif"] = exif
        options["lossless"] = bool(kwargs.get("lossless", True))
    frames = to_pingpong(images) if pingpong else iter(images)

    def pictures() -> Iterator[Any]:
        for i, f in enumerate(frames, 1):
            yield Image.fromarray(np.clip(f.detach().float().cpu().numpy() * 255 + 0.5, 0, 255).astype(np.uint8))
            if on_frame is not None:
                on_frame(i)

    pics = pictures()
    first = next(pics)
    if os.path.lexists(path):
        raise NodeInputError("filename_prefix", f"{path} already exists; wfrun never replaces an output")
    with writing(path) as temp, open(temp, "xb") as handle:
        first.save(handle, format=ext.upper(), save_all=True, append_images=pics,
                   duration=round(1000 / frame_rate), loop=loop_count, compress_level=4, **options)


def _encode_video(images: torch.Tensor, path: Path, video_format: Any, frame_rate: float, loop_count: int,
                  pingpong: bool, metadata: dict[str, Any], kwargs: dict[str, Any],
                  watch: _FrameWatch) -> tuple[int, int]:
    given = dict(kwargs)
    first = images[0]
    has_alpha = first.shape[-1] == 4
    try:
        values = video_format.values(given)
    except ValueError as err:
        raise NodeInputError(str(err).split(" ", 1)[0], str(err)) from None
    values["has_alpha"] = has_alpha
    output_args = video_format.build(values)
    height, width = first.shape[0], first.shape[1]
    frames: Iterable[torch.Tensor] = iter(images)
    if width % 2 or height % 2:  # VHS pads odd sizes by replicating edges
        to_w, to_h = -width % 2, -height % 2
        frames = _pad_even(frames, (to_w // 2, to_w - to_w // 2, to_h // 2, to_h - to_h // 2))
        width, height = width + to_w, height + to_h
    num_frames = images.shape[0]
    if pingpong:
        frames = to_pingpong(list(frames))
        if num_frames > 2:
            num_frames += num_frames - 2
    loop_args = ["-vf", f"loop=loop={loop_count}:size={num_frames}"] if loop_count > 0 else []
    depth16 = video_format.color_depth(values) == "16bit"
    pix_in = ("rgba64" if has_alpha else "rgb48") if depth16 else ("rgba" if has_alpha else "rgb24")
    try:
        sent = encode(frames_to_bytes(frames, 16 if depth16 else 8), path, width=width, height=height,
                      frame_rate=frame_rate, output_args=output_args, input_pix_fmt=pix_in,
                      fake_trc=video_format.fake_trc, pre_output_args=loop_args,
                      metadata=metadata if (metadata and video_format.save_metadata(values)) else None,
                      env=video_format.env, on_frame=watch)
    except (VideoError, FileExistsError) as err:
        watch(0)  # ffmpeg stopped by the Ctrl-C: that is the news, not ffmpeg's words
        raise NodeInputError("format", str(err)) from None
    return sent, num_frames
