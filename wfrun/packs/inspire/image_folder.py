"""``LoadImageListFromDir //Inspire``: the images of a folder, as a list.

Against the pack (``inspire/image_util.py``, HEAD 1aef2c5 of 2025-09-08, whose node has the
inputs of the 1.23.0 release the corpus files carry): the folder's ``.jpg``, ``.jpeg``,
``.png`` and ``.webp`` files, sorted by ``sort_method``, from ``start_index`` on, at most
``image_load_cap`` of them (0: all), each file's first frame with EXIF orientation applied,
its mask ``1 - alpha`` (a 64x64 zero mask without alpha), and its path.

Differences, each on purpose:

- The folder is found inside wfrun's folders, never anywhere on disk (``media.image_folder``:
  ``./output/x`` is the output folder's ``x``, other relative names are under the input
  folder; absolute names, ``..`` and symlinks out are refused). ComfyUI opens any path.
- ``sort_method`` ``None`` sorts by name where the pack keeps ``os.listdir``'s order, which
  the file system decides; ``.jxl`` files are not read (the pack reads them only with the
  optional pillow-jxl plugin, and its extension list is broken for them).
- The outputs are lists (``OUTPUT_IS_LIST``): one IMAGE, MASK and path per file, and each
  later node runs once per image (``wfrun.engine.lists``), as in ComfyUI. Each mask is
  ``[1, height, width]`` where the pack's is ``[height, width]`` (wfrun's MASK keeps its
  frame axis; ComfyUI's nodes add it themselves). No image at ``start_index`` is refused
  (the pack gives empty lists, on which the next node fails).
- ``load_always`` only says whether ComfyUI may cache the result; wfrun reads the folder on
  every run (the executor is volatile) and ignores it.
"""

from __future__ import annotations

from typing import Any

from wfrun.media.image import MediaPathError
from wfrun.media.image_folder import SORT_METHODS, list_images, load_still, resolve_folder
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import temp_dir

#: Images one node reads at most when its cap is 0 (all); a larger folder is refused.
MAX_IMAGES = 4096


def folder_images(ctx: ExecContext, directory: str, image_load_cap: int, start_index: int,
                  sort_method: str | None) -> list:
    """The files the node reads, in order (see the module docstring)."""
    if sort_method not in (None, *SORT_METHODS):
        raise NodeInputError("sort_method", f"unknown sort_method {sort_method!r}", f"use one of {', '.join(SORT_METHODS)}")
    for name, value in (("image_load_cap", image_load_cap), ("start_index", start_index)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise NodeInputError(name, f"expected a whole number of at least 0, found {value!r}")
    try:
        folder = resolve_folder(directory, ctx.input_dir, ctx.output_dir, temp_dir(ctx))
        files = list_images(folder, sort_method)
    except MediaPathError as err:
        raise NodeInputError("directory", str(err), f"put the images in a folder inside {ctx.input_dir} or "
                             f"{ctx.output_dir} and name it relative to that (e.g. ./output/frames)") from None
    files = files[start_index:]
    if image_load_cap > 0:
        files = files[:image_load_cap]
    if len(files) > MAX_IMAGES:
        raise NodeInputError("image_load_cap", f"{len(files)} images to load; wfrun loads at most {MAX_IMAGES} "
                             "from one folder", f"set image_load_cap to {MAX_IMAGES} or less")
    return files


def _folder(inputs: dict) -> dict:
    """The folder the node reads, for ``--smoke``'s stand-ins (jobs/standins.py)."""
    return {"directory": (inputs.get("directory"), "image_folder")}


@executor("LoadImageListFromDir //Inspire", volatile=True, input_files=_folder)
def load_image_list_from_dir(ctx: ExecContext, directory: str, image_load_cap: int, start_index: int,
                             load_always: bool, sort_method: str | None = None, **_: Any) -> tuple:
    files = folder_images(ctx, directory, image_load_cap, start_index, sort_method)
    if not files:
        raise NodeInputError("start_index", f"no image from index {start_index} on in {directory!r}",
                             "lower start_index, or add images to the folder")
    images, masks = [], []
    for path in files:
        ctx.check_interrupt()
        try:
            image, mask = load_still(path)
        except MediaPathError as err:
            raise NodeInputError("directory", str(err), "keep only PNG, JPEG or WebP images in the folder") from None
        images.append(image)
        masks.append(mask[None])
    return images, masks, [str(path) for path in files]
