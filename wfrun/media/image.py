"""Image files and resampling the way ComfyUI does them.

* :func:`resolve_inside` turns a user-given file name into a path inside a folder, refusing
  absolute names, ``..`` and symlinks that lead out (workflows come from the internet).
* :func:`save_target` is ComfyUI's ``folder_paths.get_save_image_path``: ``%width%``/``%date%``
  style variables, sub-folders kept inside the output folder, and the next free counter.
* :func:`load_image_file` is ComfyUI's ``LoadImage`` (Pillow path): every frame of the file of
  the first frame's size, EXIF orientation applied, ``mask = 1 - alpha`` (64x64 zeros
  without alpha).
* :func:`write_png` writes with ``tEXt`` chunks (``prompt``/``workflow`` as JSON), under a
  temporary name renamed when complete (:mod:`wfrun.atomic`), and never replaces a file.
* :func:`common_upscale` / :func:`lanczos` are ``comfy.utils``'s: ``torch`` interpolation for
  the usual modes, Pillow per image for lanczos (8-bit, values truncated like ComfyUI), and
  the optional centre crop to the target aspect first.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.atomic import writing


class MediaPathError(ValueError):
    """A file name that is unsafe or missing; the message says what and where."""


# ---------------------------------------------------------------------------- paths

#: The most base64 text a node decodes into an image (Easy-Use's and comfyui-tooling-nodes'
#: base64 loaders): a workflow is untrusted, and 64 MiB of text is a 48 MiB file.
MAX_BASE64_CHARS = 64 * 1024 * 1024


class BadBase64Image(ValueError):
    """Base64 text that holds no readable picture; ``hint`` says what to give instead."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def open_base64_image(text: Any, name: str) -> Any:
    """The picture (a loaded Pillow image) that the base64 ``text`` of input ``name`` holds,
    for the base64 image loaders (Easy-Use's, comfyui-tooling-nodes'), which then read its
    colours and alpha each as its pack does. Untrusted text: at most
    :data:`MAX_BASE64_CHARS`, Pillow's decompression-bomb limit, and a ``data:`` URL header
    refused (both packs leave it in and cannot decode it); :class:`BadBase64Image` says why."""
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    if not isinstance(text, str):
        raise BadBase64Image(f"{name}: expected base64 text, found {type(text).__name__}")
    if len(text) > MAX_BASE64_CHARS:
        raise BadBase64Image(f"{name} is {len(text):,} characters, over wfrun's limit of {MAX_BASE64_CHARS:,}",
                             "load a large image from a file with LoadImage")
    if not text.strip():
        raise BadBase64Image(f"{name} is empty: this node expects the base64 text of an image, which the tool "
                             "that sends the workflow fills in", f"set '{name}' to an image encoded as base64")
    if text.lstrip().startswith("data:"):
        raise BadBase64Image(f"{name} starts with a data: URL header, which the pack leaves in and cannot decode",
                             "remove the text up to and including the comma")
    try:
        raw = base64.b64decode(text)
    except (binascii.Error, ValueError) as err:
        raise BadBase64Image(f"{name} is not valid base64 ({err})") from None
    try:
        picture = Image.open(io.BytesIO(raw))
        picture.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise BadBase64Image(f"{name} does not hold an image that can be read ({err})",
                             "give a PNG, JPEG or WebP file encoded as base64") from None
    return picture


def split_annotation(name: str) -> tuple[str, str | None]:
    """ComfyUI's ``"name [input]"`` / ``"[output]"`` / ``"[temp]"`` suffixes."""
    for tag in ("output", "input", "temp"):
        suffix = f"[{tag}]"
        if name.endswith(suffix):
            return name[: -len(suffix)].rstrip(" "), tag
    return name, None


def resolve_inside(base: str | os.PathLike[str], name: str, what: str = "file") -> Path:
    """``name`` as a path inside ``base``; refuses anything that could leave it.

    Refused: empty names, NUL bytes, absolute paths (``/x``, ``C:\\x``, ``\\\\server``), any ``..``
    part, and names whose real path (after following symlinks) is outside ``base``.
    """
    if not isinstance(name, str) or not name or "\0" in name:
        raise MediaPathError(f"{what} name {name!r} is empty or not text")
    rel = PurePosixPath(name.replace("\\", "/"))
    if rel.is_absolute() or not rel.parts or ":" in rel.parts[0] or ".." in rel.parts:
        raise MediaPathError(
            f"{what} name {name!r} must be a plain relative name inside {base} "
            "(absolute paths and '..' are refused)")
    root = Path(base).resolve()
    real = root.joinpath(*rel.parts).resolve()
    if real != root and root not in real.parents:
        raise MediaPathError(f"{what} {name!r} leads outside {root} (through a symlink); refused")
    return real


def existing_inside(base: str | os.PathLike[str], name: str, what: str = "file") -> Path:
    """:func:`resolve_inside` for a file that must exist, with a helpful error otherwise."""
    path = resolve_inside(base, name, what)
    if not path.is_file():
        near = _near_names(Path(base), name)
        hint = f"; files there include: {', '.join(near)}" if near else ""
        raise MediaPathError(f"{what} {name!r} not found in {Path(base).resolve()}{hint}")
    return path


def find_input_file(name: str, input_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                    temp_dir: str | os.PathLike[str], what: str = "file") -> Path:
    """The file a loader widget names (``"x.png"``, ``"sub/x.png"``, ``"x.png [output]"``), in
    the folder its annotation says (input by default); MediaPathError when unsafe or missing."""
    plain, tag = split_annotation(name)
    base = {"output": output_dir, "temp": temp_dir}.get(tag or "", input_dir)
    return existing_inside(base, plain, what)


def input_file_hint(what: str, input_dir: str | os.PathLike[str]) -> str:
    """What to do about a loader's missing file (the run checks early, the node again)."""
    return f"put the {what} in {input_dir} (or pass --input DIR) and name it relative to that folder"


def _near_names(base: Path, name: str, limit: int = 5) -> list[str]:
    import difflib

    try:
        names = sorted(p.name for p in base.iterdir() if p.is_file())
    except OSError:
        return []
    close = difflib.get_close_matches(PurePosixPath(name.replace("\\", "/")).name, names, n=limit, cutoff=0.3)
    return close or names[:limit]


#: Longest file name (bytes) on the usual file systems, and what a saver adds to a prefix
#: (``_00001_.png``, ``_00001-audio.webm``, a larger counter).
NAME_MAX, NAME_ROOM = 255, 32


@dataclass(frozen=True)
class SaveTarget:
    """Where numbered outputs go: ``folder/filename_{counter:05}…``."""

    folder: Path
    filename: str
    counter: int
    subfolder: str


#: The date fields of the ComfyUI frontend's ``%date:FORMAT%`` (``formatDate``), longest first.
DATE_FIELDS = (("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("hh", "%H"), ("mm", "%M"),
               ("ss", "%S"), ("M", "-m"), ("d", "-d"), ("h", "-H"), ("m", "-M"), ("s", "-S"))
DATE_PATTERN = re.compile(r"%date:([^%]{1,64})%")


def _date_text(fmt: str, now: time.struct_time) -> str:
    """The frontend's ``formatDate``: ``yyyy-MM-dd`` → ``2026-12-01`` (``M``/``d``/… unpadded)."""
    out, i = [], 0
    while i < len(fmt):
        for field, code in DATE_FIELDS:
            if fmt.startswith(field, i):
                value = time.strftime(code.replace("-", "%"), now)
                out.append(value.lstrip("0") or "0" if code.startswith("-") else value)
                i += len(field)
                break
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def _compute_vars(prefix: str, width: int, height: int) -> str:
    now = time.localtime()
    # the ComfyUI frontend turns %date:FORMAT% into the date when it queues a UI workflow
    prefix = DATE_PATTERN.sub(lambda m: _date_text(m.group(1), now), prefix)
    for key, value in (("%width%", str(width)), ("%height%", str(height)), ("%year%", str(now.tm_year)),
                       ("%month%", f"{now.tm_mon:02}"), ("%day%", f"{now.tm_mday:02}"),
                       ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                       ("%second%", f"{now.tm_sec:02}")):
        prefix = prefix.replace(key, value)
    return prefix


def save_target(output_dir: str | os.PathLike[str], filename_prefix: str,
                width: int = 0, height: int = 0) -> SaveTarget:
    """ComfyUI's ``get_save_image_path``: the folder (created), base name and next counter.

    The counter is one more than the largest ``<name>_<digits>…`` among the folder's files, so
    earlier outputs are never reused. A prefix leading outside ``output_dir`` is refused; an
    empty one names the files ``._<counter>…`` in ``output_dir``, as ComfyUI does.
    """
    if not isinstance(filename_prefix, str) or "\0" in filename_prefix:
        raise MediaPathError(f"filename_prefix {filename_prefix!r} is not a file name (no text, or a NUL byte)")
    if "%" in filename_prefix:
        filename_prefix = _compute_vars(filename_prefix, width, height)
    norm = os.path.normpath(filename_prefix.replace("\\", "/"))
    subfolder, filename = os.path.dirname(norm), os.path.basename(norm)
    root = Path(output_dir).resolve()
    # an empty prefix normalises to ".": ComfyUI saves "._00001_.png" in the output folder itself
    if (os.path.isabs(norm) or ".." in PurePosixPath(norm).parts or not filename or filename == ".."
            or (filename == "." and norm != ".")):
        raise MediaPathError(f"filename_prefix {filename_prefix!r} would save outside the output folder {root}")
    parts = PurePosixPath(norm).parts
    for i, part in enumerate(parts):
        room = NAME_MAX - (NAME_ROOM if i == len(parts) - 1 else 0)
        if len(os.fsencode(part)) > room:
            raise MediaPathError(f"filename_prefix part {part[:24]!r}… is {len(os.fsencode(part))} bytes long; file "
                                 f"names may have {NAME_MAX} bytes, and the counter and extension need {NAME_ROOM}")
    folder = (root / subfolder) if subfolder else root
    folder.mkdir(parents=True, exist_ok=True)
    real = folder.resolve()
    if real != root and root not in real.parents:
        raise MediaPathError(f"filename_prefix {filename_prefix!r} leads outside {root} (through a symlink)")
    counter = 1
    wanted = os.path.normcase(filename)
    for entry in os.listdir(real):
        prefix, digits = entry[: len(filename) + 1], 0
        try:
            digits = int(entry[len(filename) + 1:].split(".")[0].split("_")[0])
        except ValueError:
            digits = 0
        if os.path.normcase(prefix[:-1]) == wanted and prefix[-1:] == "_":
            counter = max(counter, digits + 1)
    return SaveTarget(real, filename, counter, subfolder)


def workflow_metadata(workflow_json: Any, prompt: Any = None) -> dict[str, Any]:
    """What ComfyUI embeds: ``prompt`` (API format) and ``workflow`` (UI format), when known."""
    out: dict[str, Any] = {}
    data = workflow_json
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        out["workflow"] = data
    elif isinstance(data, dict) and data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        prompt = prompt if prompt is not None else data
    if prompt is not None:
        out = {"prompt": prompt, **out}
    return out


# ---------------------------------------------------------------------------- tensors

def to_uint8(image: torch.Tensor) -> np.ndarray:
    """ComfyUI's conversion for saving: ``clip(255 * x, 0, 255)`` truncated to 8 bits."""
    array = 255.0 * image.detach().float().cpu().numpy()
    return np.clip(array, 0, 255).astype(np.uint8)


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``comfy.utils.lanczos``: Pillow LANCZOS per image on 8-bit data; [B, C, H, W] in and out."""
    from PIL import Image

    out = []
    for image in samples:
        single = image.shape[0] == 1
        array = to_uint8(image[0] if single else image.movedim(0, -1))
        pil = Image.fromarray(array).resize((width, height), resample=Image.Resampling.LANCZOS)
        back = torch.from_numpy(np.asarray(pil).astype(np.float32) / 255.0)
        out.append(back.unsqueeze(0) if back.ndim == 2 else back.movedim(-1, 0))
    return torch.stack(out).to(samples.device, samples.dtype)


UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos", "nearest")


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str,
                   crop: str = "disabled") -> torch.Tensor:
    """``comfy.utils.common_upscale`` for [B, C, H, W]: optional centre crop, then resample."""
    if crop == "center":
        old_w, old_h = samples.shape[-1], samples.shape[-2]
        old_aspect, new_aspect = old_w / old_h, width / height
        x = y = 0
        if old_aspect > new_aspect:
            x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
        elif old_aspect < new_aspect:
            y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
        samples = samples.narrow(-2, y, old_h - y * 2).narrow(-1, x, old_w - x * 2)
    if method == "lanczos":
        return lanczos(samples, width, height)
    if method not in UPSCALE_METHODS:
        raise ValueError(f"unknown resampling method {method!r}; known: {', '.join(UPSCALE_METHODS)}")
    return F.interpolate(samples, size=(height, width), mode=method)


def upscale_image(image: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled") -> torch.Tensor:
    """:func:`common_upscale` for an IMAGE [B, H, W, C]."""
    return common_upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


# ---------------------------------------------------------------------------- files

def open_image(path: str | os.PathLike[str]) -> Any:
    """The file opened by Pillow (use it in a ``with``), or MediaPathError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as err:
        raise MediaPathError(f"{Path(path).name}: not an image Pillow can read ({err})") from None


def load_image_file(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE [N, H, W, 3] and MASK [N, h, w] from an image file, as ComfyUI's LoadImage.

    Every frame (animated GIF/WebP/APNG, multi-page TIFF) of the first frame's size is kept;
    others are skipped. The mask is ``1 - alpha``; a frame without alpha (also a palette
    image with a transparent colour, as ComfyUI's earlier code and its PyAV path treat it)
    gets a 64x64 zero mask. 16-bit grey (mode ``I``) is scaled to 8 bits first.
    """
    from PIL import ImageOps, ImageSequence

    img = open_image(path)
    images, masks = [], []
    size = None
    with img:
        for frame in ImageSequence.Iterator(img):
            frame = ImageOps.exif_transpose(frame) or frame
            if frame.mode == "I":
                frame = frame.point(lambda v: v * (1 / 255))
            rgb = frame.convert("RGB")
            if size is None:
                size = rgb.size
            if rgb.size != size:
                continue
            images.append(torch.from_numpy(np.asarray(rgb).astype(np.float32) / 255.0))
            if "A" in frame.getbands():
                alpha = np.asarray(frame.getchannel("A")).astype(np.float32) / 255.0
                masks.append(1.0 - torch.from_numpy(alpha))
            elif frame.mode == "P" and "transparency" in frame.info:
                alpha = np.asarray(frame.convert("RGBA").getchannel("A")).astype(np.float32) / 255.0
                masks.append(1.0 - torch.from_numpy(alpha))
            else:
                masks.append(torch.zeros((64, 64), dtype=torch.float32))
    if not images:
        raise MediaPathError(f"{Path(path).name}: the file holds no image")
    if len({tuple(m.shape) for m in masks}) > 1:  # mixed alpha/no-alpha frames: expand to image size
        h, w = images[0].shape[:2]
        masks = [m if tuple(m.shape) == (h, w) else torch.zeros((h, w)) for m in masks]
    return torch.stack(images), torch.stack(masks)


def write_png(path: str | os.PathLike[str], array: np.ndarray, text: Mapping[str, Any] | None = None,
              compress_level: int = 4) -> Path:
    """Write ``array`` (uint8 HxWx{3,4} or HxW) as PNG with JSON ``tEXt`` chunks.

    ``text`` values that are not strings are stored as JSON, as ComfyUI stores ``prompt`` and
    ``workflow``. Raises :class:`FileExistsError` instead of replacing a file. A full disk or
    Ctrl-C leaves no file at all, never a 0-byte or partial one.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    path = Path(path)
    if os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    with writing(path) as temp:  # complete under its name, or not there at all
        with open(temp, "xb") as handle:
            Image.fromarray(array).save(handle, format="PNG", pnginfo=info, compress_level=compress_level)
    return path


def read_png_text(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text chunks of a PNG (what :func:`write_png` stored)."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        return dict(getattr(img, "text", {}) or {})
