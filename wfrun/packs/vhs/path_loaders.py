"""VideoHelperSuite's loaders that take a path as text instead of an uploaded file:
VHS_LoadVideoPath, VHS_LoadVideoFFmpegPath, VHS_LoadImagePath, VHS_LoadImagesPath; and
their kin VHS_LoadImages (a sub-folder of the input folder, chosen from a list in ComfyUI)
and VHS_LoadVideoFFmpeg (an uploaded video read the ffmpeg way).

Where the file may be. In ComfyUI these nodes open whatever path they are given, anywhere
on the disk, and fetch ``http(s)://`` URLs. Workflows are untrusted, so wfrun reads only
inside its own folders (:func:`resolve_path`):

- a relative path is looked up in the run's input folder; as ComfyUI's own folder holds
  ``input/`` and ``output/``, a path starting with ``input/``, ``output/`` or ``temp/``
  names that folder (as VHS_LoadAudio reads its path), and ComfyUI's ``[input]``,
  ``[output]`` and ``[temp]`` annotations pick a folder as for an uploaded file (``--smoke``
  stand-ins are named so);
- an absolute path is accepted only inside the input, output or temp folder; ``..``, other
  absolute paths (Windows ones included) and symlinks whose real path leaves those folders
  are refused, and so is every URL: wfrun never downloads what a workflow names.

VHS_LoadVideoPath is VHS_LoadVideo on the file (``video_nodes.read_video``: the same frame
selection, sizes, formats and refusals; its ``audio`` output is ``None`` as there).

VHS_LoadVideoFFmpeg(Path) read as the pack's ffmpeg generator does
(:func:`read_video_ffmpeg`): ``start_time`` in seconds instead of skipping frames, ffmpeg's
``fps`` filter for ``force_rate``, ffmpeg's crop and scale for a custom size, 16-bit
frames, and a ``mask`` output (``1 - alpha`` for a stream with alpha, else ``[N, 64, 64]``
zeros); ``audio`` is ``None`` and ``video_info`` follows the pack (its source frame count is
rate x duration, as ffmpeg reports them).

VHS_LoadImagePath reads one image (the pack decodes it through ffmpeg as a one-frame
video, without a load format, so sizes are not rounded): IMAGE ``[1, H, W, 3]`` and
``mask = 1 - alpha`` where the image has alpha, else a ``[1, 64, 64]`` zero mask. With
``custom_width``/``custom_height`` the pack crops to the new aspect and scales with ffmpeg's
bicubic filter; wfrun crops the centre and scales bicubically in torch, which can differ
by a level or so. Saves from before 2025-01-30 carry ``force_size``, read as VHS_LoadVideo
reads it. Pillow decodes, and applies EXIF orientation.

VHS_LoadImagesPath / VHS_LoadImages, as the pack's ``load_images``: the folder's files
sorted by name (code-point order), those with an image extension (any case: jpg, jpeg,
png, ppm, bmp, pgm, tif, tiff, webp), then ``skip_first_images``, every
``select_every_nth``, at most ``image_load_cap`` (0: all). Every image takes the most
common size among those chosen (the first seen on a tie); others are resized (lanczos,
centre crop). Where any chosen image has an alpha band all are read as RGBA and the MASK
is ``1 - alpha``; else it is ``[N, 64, 64]`` zeros. Outputs: IMAGE, MASK, the count. The
pack returns float16 tensors; wfrun returns float32 (ComfyUI's IMAGE convention), from the
same 8-bit values. A file in the folder that is a symlink leading out of wfrun's folders is
refused. ``meta_batch`` (batched loading) is refused here (VHS_LoadVideo and VHS_LoadVideoPath run one
batch: ``meta_batch.py``); so is ``vae``.

``wfrun validate``/``run`` check the files and folders these nodes name before any model
loads, and ``--smoke`` stands in for missing ones (``input_files``: relative names; absolute
ones are left to the executor); a stand-in folder holds as many images as the node's
``skip_first_images``, ``select_every_nth`` and ``image_load_cap`` take.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
import torch

from wfrun.media.image import MediaPathError, common_upscale, existing_inside, resolve_inside, split_annotation
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.media.video import VideoError, probe
from wfrun.nodes.files import input_file, temp_dir
from wfrun.packs.vhs.audio_nodes import folder_name
from wfrun.packs.vhs.upload_2023 import october_outputs
from wfrun.packs.vhs.video_nodes import (LOAD_FORMATS, _from_force_size, _video_files, read_video, strip_path,
                                         target_size, trim_to_format)

#: ``comfy.k_diffusion.utils.FolderOfImages.IMG_EXTENSIONS``, the pack's image filter.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
#: Directory entries read at most; a larger folder is refused.
MAX_ENTRIES = 100_000

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # one letter before :// is a drive
_WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:[\\/]|[\\/]{2})")


# ---------------------------------------------------------------------------- paths

def _is_absolute(text: str) -> bool:
    return text.startswith("/") or bool(_WINDOWS_ABSOLUTE.match(text))


def _folders(ctx: ExecContext) -> dict[str, Path]:
    return {"input": Path(ctx.input_dir), "output": Path(ctx.output_dir), "temp": temp_dir(ctx)}


def _hint(what: str, ctx: ExecContext) -> str:
    return (f"put the {what} in the input folder {Path(ctx.input_dir).resolve()} (or pass --input DIR) and "
            "name it relative to that folder")


def resolve_path(ctx: ExecContext, value: Any, input_name: str, what: str, *, folder: bool = False) -> Path:
    """The existing file (or, with ``folder``, directory) a path input names, inside wfrun's
    folders (see the module docstring); NodeInputError naming ``input_name`` otherwise."""
    if not isinstance(value, str):
        raise NodeInputError(input_name, f"{input_name}: expected a path as text, found {type(value).__name__}",
                             f"type the path of the {what}")
    text = strip_path(value)
    if not text:
        raise NodeInputError(input_name, f"{input_name} is empty", _hint(what, ctx))
    if _URL.match(text):
        raise NodeInputError(input_name, f"{input_name} {text!r} is a URL; wfrun never downloads files a workflow "
                             "names", f"download the {what} yourself, then " + _hint(what, ctx))
    plain, tag = split_annotation(text)
    folders = _folders(ctx)
    try:
        if _is_absolute(plain):
            path = _absolute_inside(plain, folders, what)
        else:
            parts = [p for p in PurePosixPath(plain.replace("\\", "/")).parts if p != "."]
            base = folders[tag] if tag else folders["input"]
            if tag is None and parts and parts[0] in ("input", "output", "temp"):
                base, parts = folders[parts[0]], parts[1:]
            if not parts:
                if not folder:
                    raise MediaPathError(f"{what} {text!r} names a folder, not a file")
                path = base.resolve()
            elif folder:
                path = resolve_inside(base, "/".join(parts), what)
            else:
                path = existing_inside(base, "/".join(parts), what)
    except MediaPathError as err:
        raise NodeInputError(input_name, str(err), _hint(what, ctx)) from None
    if folder and not path.is_dir():
        raise NodeInputError(input_name, f"{input_name}: directory {text!r} cannot be found (looked for {path})",
                             _hint(what, ctx))
    if not folder and not path.is_file():
        raise NodeInputError(input_name, f"{input_name}: {what} {text!r} not found (looked for {path})",
                             _hint(what, ctx))
    return path


def _absolute_inside(text: str, folders: dict[str, Path], what: str) -> Path:
    """An absolute path whose real path is inside one of ``folders``; MediaPathError else."""
    shown = ", ".join(f"{name} {path.resolve()}" for name, path in folders.items() if name != "temp")
    refused = MediaPathError(f"{what} {text!r} is an absolute path outside wfrun's folders ({shown}); "
                             "wfrun reads only inside them")
    if _WINDOWS_ABSOLUTE.match(text) or ".." in PurePosixPath(text).parts:
        raise refused
    real = Path(text).resolve()
    if not _inside_any(real, folders):
        raise refused
    return real


def _inside_any(real: Path, folders: dict[str, Path]) -> bool:
    for root in folders.values():
        root = root.resolve()
        if real == root or root in real.parents:
            return True
    return False


def _declared(input_name: str, kind: str) -> Callable[[dict], dict]:
    """``input_files`` for a path input: the name as the run's early check and ``--smoke``
    stand-ins read names (relative to the input folder, or annotated); absolute paths are
    left to the executor (None), URLs are declared as they are, so the early check refuses
    them."""
    def files(inputs: dict) -> dict:
        value = inputs.get(input_name)
        if not isinstance(value, str):
            return {input_name: (None, kind)}
        if _is_absolute(split_annotation(strip_path(value))[0]):
            return {input_name: (None, kind)}
        return {input_name: (folder_name(value), kind)}
    return files


def _no_batch(meta_batch: Any, vae: Any) -> None:
    if meta_batch is not None:
        raise NodeInputError("meta_batch", "batched loading (Meta Batch Manager) is not supported by wfrun",
                             "disconnect meta_batch")
    if vae is not None:
        raise NodeInputError("vae", "loading straight to latents is not supported by wfrun",
                             "disconnect vae and encode the IMAGE output with the workflow's VAE encode node")


# ---------------------------------------------------------------------------- video

@executor("VHS_LoadVideoPath", volatile=True, input_files=_declared("video", "video"))
def load_video_path(ctx: ExecContext, video: Any, force_rate: float, custom_width: int, custom_height: int,
                    frame_load_cap: int, skip_first_frames: int, select_every_nth: int,
                    *, meta_batch: Any = None, vae: Any = None, format: str, force_size: str | None = None,
                    desired_frame_rate: float | None = None, **_: Any) -> tuple:
    loaded = read_video(lambda: resolve_path(ctx, video, "video", "video"), force_rate, custom_width,
                        custom_height, frame_load_cap, skip_first_frames, select_every_nth, meta_batch=meta_batch,
                        vae=vae, format=format, force_size=force_size, desired_frame_rate=desired_frame_rate)
    if desired_frame_rate is not None:  # a save of 2023-10-20, with that day's outputs (upload_2023.py)
        return october_outputs(loaded, desired_frame_rate)
    return loaded


# ---------------------------------------------------------------------------- one image

def _read_rgba(path: Path, input_name: str) -> tuple[np.ndarray, bool]:
    """uint8 ``[H, W, 3 or 4]`` of an image file's first frame, EXIF orientation applied, and
    whether it has alpha (an alpha band, or a palette with transparency)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as err:
        raise NodeInputError(input_name, f"{input_name}: {path.name} is not an image Pillow can read ({err})",
                             "use a png, jpg or webp file") from None
    with img:
        img = ImageOps.exif_transpose(img) or img
        alpha = "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info)
        return np.asarray(img.convert("RGBA" if alpha else "RGB")), alpha


@executor("VHS_LoadImagePath", volatile=True, input_files=_declared("image", "image"))
def load_image_path(ctx: ExecContext, image: Any, custom_width: int, custom_height: int, *, vae: Any = None,
                    force_size: str | None = None, **_: Any) -> tuple:
    _no_batch(None, vae)
    ratio = 1
    if force_size is not None:  # a save from before 2025-01-30
        custom_width, custom_height, fmt = _from_force_size(str(force_size), custom_width, custom_height)
        ratio = 8 if fmt != "None" else 1
    path = resolve_path(ctx, image, "image", "image")
    array, alpha = _read_rgba(path, "image")
    pixels = torch.from_numpy(array.astype(np.float32) / 255.0)[None]
    height, width = array.shape[:2]
    if custom_width or custom_height or ratio != 1:
        new_w, new_h = target_size(width, height, custom_width, custom_height, ratio)
        if new_w <= 0 or new_h <= 0:
            raise NodeInputError("custom_width", f"the loaded image would be {new_w}x{new_h}", "use a larger size")
        if (new_w, new_h) != (width, height):
            pixels = common_upscale(pixels.movedim(-1, 1), new_w, new_h, "bicubic", "center").movedim(1, -1)
            pixels = pixels.clamp(0, 1)
    if alpha:
        return pixels[..., :3].contiguous(), 1.0 - pixels[..., 3]
    return pixels, torch.zeros((1, 64, 64), dtype=torch.float32)


# ---------------------------------------------------------------------------- folders of images

def chosen_files(folder: Path, image_load_cap: int, skip_first_images: int, select_every_nth: int) -> list[Path]:
    """The pack's choice of files: sorted names, image extensions, skip, every n-th, cap."""
    names: list[str] = []
    with os.scandir(folder) as entries:
        for count, entry in enumerate(entries, 1):
            if count > MAX_ENTRIES:
                raise MediaPathError(f"{folder} holds more than {MAX_ENTRIES} entries; wfrun reads folders up to "
                                     "that size")
            names.append(entry.name)
    files = [folder / n for n in sorted(names)
             if "." + n.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS and "." in n and (folder / n).is_file()]
    files = files[skip_first_images:][::select_every_nth]
    return files[:image_load_cap] if image_load_cap > 0 else files


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < low:
        raise NodeInputError(name, f"{name}: expected a whole number of at least {low}, found {value!r}")
    return int(value)


def load_folder(ctx: ExecContext, folder: Path, image_load_cap: Any, skip_first_images: Any,
                select_every_nth: Any) -> tuple:
    cap = _count(image_load_cap, "image_load_cap", 0)
    skip = _count(skip_first_images, "skip_first_images", 0)
    nth = _count(select_every_nth, "select_every_nth", 1)
    try:
        files = chosen_files(folder, cap, skip, nth)
    except (MediaPathError, OSError) as err:
        raise NodeInputError("directory", f"directory: {err}") from None
    if not files:
        raise NodeInputError("directory", f"directory: no image files to load in {folder} (skipping {skip}, "
                             f"every {nth})", "put png/jpg/webp images there, or skip fewer")
    folders = _folders(ctx)
    for path in files:
        if path.is_symlink() and not _inside_any(path.resolve(), folders):
            raise NodeInputError("directory", f"directory: {path.name} in {folder} is a link leading outside "
                                 "wfrun's folders; refused", "copy the image into the folder instead")
    arrays, alphas = [], []
    for path in files:
        ctx.check_interrupt()
        array, alpha = _read_rgba(path, "directory")
        arrays.append(array)
        alphas.append(alpha)
    sizes = Counter((a.shape[1], a.shape[0]) for a in arrays)
    best = max(sizes.values())
    width, height = next(size for size in sizes if sizes[size] == best)  # first seen among the most common
    has_alpha = any(alphas)
    channels = 4 if has_alpha else 3
    frames = []
    for array in arrays:
        if array.shape[2] != channels:
            array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255, np.uint8)], axis=2)
        pixels = torch.from_numpy(array.astype(np.float32) / 255.0)
        if array.shape[:2] != (height, width):
            pixels = common_upscale(pixels.movedim(-1, 0)[None], width, height, "lanczos", "center")[0].movedim(0, -1)
        frames.append(pixels)
    images = torch.stack(frames)
    if has_alpha:
        return images[..., :3].contiguous(), 1.0 - images[..., 3], len(frames)
    return images, torch.zeros((len(frames), 64, 64), dtype=torch.float32), len(frames)


@executor("VHS_LoadImagesPath", volatile=True, input_files=_declared("directory", "image_folder"))
def load_images_path(ctx: ExecContext, directory: Any, *, image_load_cap: Any, skip_first_images: Any,
                     select_every_nth: Any, meta_batch: Any = None, **_: Any) -> tuple:
    _no_batch(meta_batch, None)
    folder = resolve_path(ctx, directory, "directory", "directory", folder=True)
    return load_folder(ctx, folder, image_load_cap, skip_first_images, select_every_nth)


@executor("VHS_LoadImages", volatile=True, input_files=_declared("directory", "image_folder"))
def load_images(ctx: ExecContext, directory: Any, *, image_load_cap: Any, skip_first_images: Any,
                select_every_nth: Any, meta_batch: Any = None, **_: Any) -> tuple:
    _no_batch(meta_batch, None)
    if not isinstance(directory, str) or not directory.strip():
        raise NodeInputError("directory", f"directory: expected the name of a folder in the input folder, found "
                             f"{directory!r}", _hint("folder of images", ctx))
    plain, tag = split_annotation(directory.strip())
    base = _folders(ctx)[tag or "input"]
    try:
        folder = resolve_inside(base, plain, "directory")
    except MediaPathError as err:
        raise NodeInputError("directory", f"directory: {err}", _hint("folder of images", ctx)) from None
    if not folder.is_dir():
        raise NodeInputError("directory", f"directory {directory!r} cannot be found (looked for {folder})",
                             _hint("folder of images", ctx))
    return load_folder(ctx, folder, image_load_cap, skip_first_images, select_every_nth)


# ---------------------------------------------------------------------------- the ffmpeg loaders

def read_video_ffmpeg(path: Path, force_rate: Any, custom_width: int, custom_height: int, frame_load_cap: Any,
                      start_time: Any, *, meta_batch: Any, vae: Any, format: str, force_size: str | None,
                      input_name: str) -> tuple:
    """VHS_LoadVideoFFmpeg(Path)'s reading: ffmpeg seeks to ``start_time`` (the pack's two-step
    seek, 4 s before on the input, the rest on the output), resamples with its ``fps``
    filter at ``force_rate``, crops to the new aspect and scales (its default bicubic) when a
    custom size is set (rounded to the format's multiple), stops after ``frame_load_cap``
    frames; 16-bit RGBA is read back, alpha kept where the stream has it. The format's frame
    rule then trims the count, as in VHS_LoadVideo."""
    import contextlib
    import io

    import imageio_ffmpeg

    _no_batch(meta_batch, vae)
    if force_size is not None:  # a save from before 2025-01-30
        custom_width, custom_height, format = _from_force_size(str(force_size), custom_width, custom_height)
    if format not in LOAD_FORMATS:
        raise NodeInputError("format", f"unknown format {format!r}", f"use one of {', '.join(LOAD_FORMATS)}")
    for name, value in (("force_rate", force_rate), ("start_time", start_time), ("frame_load_cap", frame_load_cap),
                        ("custom_width", custom_width), ("custom_height", custom_height)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
            raise NodeInputError(name, f"{name} is {value!r}; expected a number, 0 or more")
    preset = LOAD_FORMATS[format]
    try:
        info = probe(path, count_frames=False)
    except VideoError as err:
        raise NodeInputError(input_name, str(err), "use an mp4, webm, mkv, mov or gif file") from None
    fps = info.fps or 1.0
    width, height = info.width, info.height
    # as the pack: ffmpeg's own VP9 decoder drops alpha, libvpx keeps it
    decoder = ["-c:v", "libvpx-vp9"] if info.codec.split(" ")[0] == "vp9" else []
    pre_seek: list[str] = []
    post_seek: list[str] = []
    if start_time > 0:
        if start_time > 4:
            pre_seek, post_seek = ["-ss", str(start_time - 4)], ["-ss", "4"]
        else:
            post_seek = ["-ss", str(start_time)]
    filters = []
    if force_rate:
        filters.append(f"fps=fps={force_rate}")
    size = (width, height)
    if custom_width or custom_height:
        size = target_size(width, height, int(custom_width), int(custom_height), preset.get("dim", (1,))[0])
        if size[0] <= 0 or size[1] <= 0:
            raise NodeInputError("custom_width", f"the loaded frames would be {size[0]}x{size[1]}",
                                 "use a larger size")
        aspect = size[0] / size[1]
        if abs(width * aspect - height) >= 1:  # the pack's test, kept as it is
            filters.append(f"crop=if(gt({aspect}\\,a)\\,iw\\,ih*{aspect}):if(gt({aspect}\\,a)\\,iw/{aspect}\\,ih)")
        filters.append(f"scale={size[0]}:{size[1]}")
    output = ["-an", *post_seek] + (["-vf", ",".join(filters)] if filters else [])
    if frame_load_cap > 0:
        output += ["-frames:v", str(int(frame_load_cap))]
    frames = []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgba64le", bits_per_pixel=64,
                                            input_params=pre_seek + decoder, output_params=output)
        with contextlib.redirect_stdout(io.StringIO()):  # imageio notes the resize on stdout
            meta = next(reader)
        alpha = any(tag in str(meta.get("pix_fmt", "")) for tag in ("yuva", "rgba", "bgra"))
        try:
            for raw in reader:
                frame = np.frombuffer(raw, dtype="<u2").reshape(size[1], size[0], 4)
                frames.append(torch.from_numpy((frame if alpha else frame[..., :3]).astype(np.float32) / 65535.0))
        finally:
            reader.close()
    except (OSError, RuntimeError, StopIteration, ValueError) as err:
        raise NodeInputError(input_name, f"{path.name}: ffmpeg cannot read it as a video ({err})") from None
    if not frames:
        raise NodeInputError("start_time", f"no frames were loaded from {path.name} (starting at {start_time} s "
                             f"of {info.duration:g} s)", "start earlier")
    images = torch.stack(frames)
    del frames
    images = trim_to_format(images, preset, format)
    frame_time = 1 / (force_rate or fps)
    video_info = {
        "source_fps": fps,
        "source_frame_count": fps * info.duration,
        "source_duration": info.duration,
        "source_width": width,
        "source_height": height,
        "loaded_fps": 1 / frame_time,
        "loaded_frame_count": len(images),
        "loaded_duration": len(images) * frame_time,
        "loaded_width": size[0],
        "loaded_height": size[1],
    }
    if images.shape[-1] == 4:
        return images[..., :3].contiguous(), 1.0 - images[..., 3], None, video_info
    return images, torch.zeros((len(images), 64, 64), dtype=torch.float32), None, video_info


@executor("VHS_LoadVideoFFmpegPath", volatile=True, input_files=_declared("video", "video"))
def load_video_ffmpeg_path(ctx: ExecContext, video: Any, force_rate: Any, custom_width: int, custom_height: int,
                           frame_load_cap: Any, start_time: Any, *, meta_batch: Any = None, vae: Any = None,
                           format: str, force_size: str | None = None, **_: Any) -> tuple:
    return read_video_ffmpeg(resolve_path(ctx, video, "video", "video"), force_rate, custom_width, custom_height,
                             frame_load_cap, start_time, meta_batch=meta_batch, vae=vae, format=format,
                             force_size=force_size, input_name="video")


@executor("VHS_LoadVideoFFmpeg", volatile=True, input_files=_video_files)
def load_video_ffmpeg(ctx: ExecContext, video: Any, force_rate: Any, custom_width: int, custom_height: int,
                      frame_load_cap: Any, start_time: Any, *, meta_batch: Any = None, vae: Any = None,
                      format: str, force_size: str | None = None, **_: Any) -> tuple:
    if not isinstance(video, str):
        raise NodeInputError("video", f"expected a file name, found {type(video).__name__}")
    path = input_file(ctx, strip_path(video), "video", "video")
    return read_video_ffmpeg(path, force_rate, custom_width, custom_height, frame_load_cap, start_time,
                             meta_batch=meta_batch, vae=vae, format=format, force_size=force_size, input_name="video")
