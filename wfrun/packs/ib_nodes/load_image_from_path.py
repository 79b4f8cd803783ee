"""Ib's ``LoadImageFromPath`` (``image.py``; its loading is the same from 2023-08-05 to the
pack's 0.3.0): one image named by a text input, read as ComfyUI's LoadImage of 2023 did
(:func:`wfrun.media.image_folder.load_still`: the first frame, EXIF orientation applied;
IMAGE ``[1, H, W, 3]``; MASK ``1 - alpha`` as ``[H, W]``, or ``[64, 64]`` zeros without
alpha: the pack's mask has no batch dimension).

The pack resolves the text with ComfyUI's ``get_annotated_filepath``: a name relative to the
input folder, or to the output or temp folder with a `` [output]`` / `` [temp]`` suffix; an
absolute path is read wherever it points. A workflow is untrusted, so wfrun reads only inside
those folders, as its LoadImage does (``wfrun.nodes.files.input_file``): absolute paths,
``..`` and symlinks leading out are refused, naming the input. ``--smoke`` stands in for a
missing file named relative to a folder.
"""

from __future__ import annotations

from typing import Any

from wfrun.media.image import MediaPathError
from wfrun.media.image_folder import load_still
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file


def _image_file(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    return {"image": (inputs.get("image"), "image")}


@executor("LoadImageFromPath", volatile=True, input_files=_image_file)
def load_image_from_path(ctx: ExecContext, image: Any, **_: Any) -> tuple:
    path = input_file(ctx, image, "image", "image")
    try:
        return load_still(path)
    except (MediaPathError, OSError) as err:
        raise NodeInputError("image", f"image: {path.name} cannot be read ({err})", "use a PNG, JPEG or WebP file") from None
