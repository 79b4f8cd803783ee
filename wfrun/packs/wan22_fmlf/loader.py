"""WanMultiImageLoader (``wan_multi_image_loader.py``): one image of a list the node's UI
keeps in ``images_data`` (JSON: ``[{"name", "subfolder", "type"}, ...]``), chosen by
``index`` (clamped to the list).

As the pack: no ``images_data`` (or an empty list) gives one black 64x64 image; the image is
its first frame, EXIF-rotated, as RGB in 0..1.

Differences: files come from the input folder only (an entry of type ``output`` or ``temp``,
or a name leading out of the folder, is refused by name), and text that is not the UI's
JSON or a missing file is an error naming ``images_data`` where the pack prints a warning
and goes on with the black image (a run would then sample from nothing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from wfrun.media.image import MediaPathError, load_image_file
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file

#: The pack's stand-in when no image is chosen.
BLANK_SIZE = 64


def _blank() -> tuple:
    return (torch.zeros(1, BLANK_SIZE, BLANK_SIZE, 3),)


def chosen_entry(images_data: str, index: int) -> dict:
    try:
        data = json.loads(images_data)
    except ValueError as err:
        raise NodeInputError("images_data", f"not the node's JSON list of images: {err}",
                             "pick the images again in the node") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise NodeInputError("images_data", "expected a JSON list of {name, subfolder, type} entries")
    return data[max(0, min(int(index), len(data) - 1))] if data else {}


@executor("WanMultiImageLoader", volatile=True)
def wan_multi_image_loader(ctx: ExecContext, index: Any, images_data: Any = None, **_: Any) -> tuple:
    """``images_data`` is an optional input with no default in the pack's spec."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise NodeInputError("index", f"expected a whole number, found {index!r}")
    if not images_data:
        return _blank()
    if not isinstance(images_data, str):
        raise NodeInputError("images_data", f"expected text, found {type(images_data).__name__}")
    entry = chosen_entry(images_data, index)
    if not entry:
        return _blank()
    name, kind = entry.get("name"), entry.get("type", "input") or "input"
    if not isinstance(name, str) or not name:
        raise NodeInputError("images_data", "the chosen entry has no image name")
    if kind != "input":
        raise NodeInputError("images_data", f"{name!r} is in the {kind} folder; wfrun reads this node's images "
                             "from the input folder only", "copy the image into the input folder")
    subfolder = entry.get("subfolder") or ""
    if not isinstance(subfolder, str):
        raise NodeInputError("images_data", "the entry's subfolder is not text")
    if name.endswith("]") or subfolder.endswith("]"):  # no "x.png [output]" folder annotations
        raise NodeInputError("images_data", f"{name!r}: a bare file name is expected")
    path = input_file(ctx, f"{subfolder}/{name}" if subfolder else name, "images_data", "image")
    root = Path(ctx.input_dir).resolve()
    if not path.resolve().is_relative_to(root):
        raise NodeInputError("images_data", f"{name!r} is not inside the input folder")
    try:
        images, _ = load_image_file(path)
    except MediaPathError as err:
        raise NodeInputError("images_data", str(err), "use a PNG, JPEG, WebP, GIF or TIFF file") from None
    return (images[:1],)
