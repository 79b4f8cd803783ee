"""Listing and reading the images of a folder a workflow names (the Inspire pack's
``LoadImageListFromDir``/``LoadImagesFromDir``), safely.

A ComfyUI node opens the folder it is given as an operating-system path, relative to the
ComfyUI folder, where ``input/`` and ``output/`` live: ``./output/VidGen`` is a sub-folder of
the output folder. wfrun maps such names onto its own folders (:func:`resolve_folder`): a
name whose first part is ``output`` (or ``input``) is looked up under the run's output (or
input) folder, any other relative name under the input folder, and ComfyUI's ``[temp]`` /
``[output]`` / ``[input]`` annotations choose the folder as for a file. Absolute names,
``..`` and symlinks leading out are refused: workflows come from the internet.

:func:`list_images` filters by extension and sorts as the pack's ``sort_by`` does, with two
limits no real folder reaches: :data:`MAX_ENTRIES` directory entries read, and the caller's
cap on images loaded.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from wfrun.media.image import MediaPathError, open_image, resolve_inside, split_annotation

#: The pack's image extensions (``.jxl`` only with the optional pillow-jxl plugin: not read).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Directory entries read at most; a folder with more is refused.
MAX_ENTRIES = 100_000
#: The pack's ``sort_method`` choices.
SORT_METHODS = ("None", "Alphabetical (ASC)", "Alphabetical (DESC)", "Numerical (ASC)", "Numerical (DESC)",
                "Datetime (ASC)", "Datetime (DESC)")


def resolve_folder(directory: str, input_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                   temp_dir: str | os.PathLike[str]) -> Path:
    """The existing folder ``directory`` names (see the module docstring); MediaPathError
    when unsafe or missing."""
    if not isinstance(directory, str) or not directory.strip():
        raise MediaPathError(f"directory {directory!r} is empty or not text")
    plain, tag = split_annotation(directory.strip())
    parts = [p for p in PurePosixPath(plain.replace("\\", "/")).parts if p != "."]
    base: str | os.PathLike[str] = {"output": output_dir, "temp": temp_dir}.get(tag or "", input_dir)
    if tag is None and parts and parts[0] in ("output", "input") and not PurePosixPath(plain).is_absolute():
        base = output_dir if parts[0] == "output" else input_dir
        parts = parts[1:]
    if not parts:
        folder = Path(base).resolve()
    else:
        # resolve_inside refuses absolute names, drive letters, '..' and symlinks leading out
        folder = resolve_inside(base, "/".join(parts) if not PurePosixPath(plain).is_absolute() else plain,
                                "directory")
    if not folder.is_dir():
        raise MediaPathError(f"directory {directory!r} cannot be found (looked for {folder})")
    return folder


def first_number(name: str) -> float:
    """The first run of digits in ``name`` as a number; infinity when there is none (such
    names sort last, as in the pack)."""
    match = re.search(r"\d+", name)
    return int(match.group()) if match else math.inf


def list_images(folder: Path, sort_method: str | None) -> list[Path]:
    """The image files of ``folder`` (by extension, any case; sub-folders skipped), in the
    order ``sort_method`` gives. The pack's ``None`` keeps ``os.listdir``'s order, which the
    file system decides; wfrun sorts by name there too, so a run is repeatable."""
    names: list[str] = []
    with os.scandir(folder) as entries:
        for count, entry in enumerate(entries, 1):
            if count > MAX_ENTRIES:
                raise MediaPathError(f"{folder} holds more than {MAX_ENTRIES} entries; wfrun reads folders "
                                     "up to that size")
            if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                names.append(entry.name)
    if sort_method not in (None, *SORT_METHODS):
        raise ValueError(f"unknown sort_method {sort_method!r}; use one of {', '.join(SORT_METHODS)}")
    if sort_method in ("Alphabetical (DESC)",):
        names.sort(reverse=True)
    elif sort_method in ("Numerical (ASC)", "Numerical (DESC)"):
        names.sort()  # ties keep name order, as the pack's stable sort of listdir's order would keep that
        names.sort(key=lambda n: first_number(os.path.splitext(n)[0]), reverse=sort_method.endswith("(DESC)"))
    elif sort_method in ("Datetime (ASC)", "Datetime (DESC)"):
        names.sort()
        names.sort(key=lambda n: _mtime(folder / n), reverse=sort_method.endswith("(DESC)"))
    else:
        names.sort()
    return [folder / n for n in names]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return -math.inf


def load_still(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE ``[1, H, W, 3]`` and MASK ``[h, w]`` of an image file's first frame, as the pack
    reads each file: EXIF orientation applied, RGB, ``mask = 1 - alpha`` where the image has an
    alpha band, else a 64x64 zero mask."""
    from PIL import ImageOps

    img = open_image(path)
    with img:
        img = ImageOps.exif_transpose(img) or img
        rgb = np.asarray(img.convert("RGB")).astype(np.float32) / 255.0
        image = torch.from_numpy(rgb)[None]
        if "A" in img.getbands():
            mask = 1.0 - torch.from_numpy(np.asarray(img.getchannel("A")).astype(np.float32) / 255.0)
        else:
            mask = torch.zeros((64, 64), dtype=torch.float32)
    return image, mask
