"""Easy-Use's ``easy loadImagesForLoop`` (``py/nodes/image.py``), the for-loop start that walks
a folder of images, closed by ``easy forLoopEnd`` (:mod:`.loop`).

What the pack does (the code of 2025-01-21 on, unchanged up to 4de1ab3; the public
workflow was saved with 7c470c6 of 2026-01-30): the folder's files whose names end in
``.jpg``, ``.jpeg``, ``.png`` or ``.webp`` (any case), sorted by name; pass ``index`` (0, 1, …,
or from the hidden ``initial_value0``) reads the file at ``start_index + index``: its first
frame, EXIF orientation applied, RGB (``image`` ``[1, H, W, 3]``), ``mask`` ``1 - alpha``
``[H, W]`` or ``[64, 64]`` zeros without alpha (no batch dimension, as the pack gives it),
``name`` the file name without its extension. ``value1``/``value2`` are ``initial_value1``/
``initial_value2`` in the first pass and then what ``easy forLoopEnd`` received on its
first two value sockets (``None`` for an unconnected one), as in the for-loop.

The end node counts the passes with the pack's ``easy imagesCountInDirectory``: with
``limit`` -1, the number of image files less ``start_index`` (when above 0), else ``limit``;
and, as in every Easy-Use for-loop, it goes on while ``index + 1`` is below that count, so
the body runs at least once (``limit`` 0 still reads one image).

Differences from the pack, on purpose:

- the folder is found inside wfrun's folders (``wfrun.media.image_folder.resolve_folder``:
  ``output/x`` is the output folder's ``x``, other relative names are under the input folder;
  absolute names, ``..`` and symlinks leading out are refused). The pack opens any path,
  relative to ComfyUI's own folder;
- a pass that would read past the last image (``limit`` larger than the images there, or a
  ``start_index`` beyond them) is refused before the first pass, naming the input; the pack
  fails with an index error when it gets there, after the passes before it have run. An
  empty folder is refused too, as in the pack. Only plain files count (the pack's name filter
  would also take a sub-folder named like an image, then fail to open it);
- saves from before 2025-01-21 counted the passes differently (without ``start_index`` until
  2024-11-04; a count of 0 ran nothing); their signature is the same, so wfrun cannot tell
  them apart and runs them as the later code does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from wfrun.media.image import MediaPathError
from wfrun.media.image_folder import list_images, load_still, resolve_folder
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import temp_dir
from wfrun.nodes.loops import LoopKind, register_loop
from wfrun.packs.easyuse.loop import END, FlowControl, _count_until, _end_outputs, _value_input

START = "easy loadImagesForLoop"


def _whole(inputs: dict[str, Any], name: str, low: int) -> int:
    value = inputs.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise NodeInputError(name, f"{name}: expected a whole number of at least {low}, found {value!r}",
                             "connect an INT" if name == "initial_value0" else None)
    return value


def image_files(inputs: dict[str, Any], ctx: ExecContext) -> list[Path]:
    """The folder's image files in the pack's order (see the module docstring)."""
    directory = inputs.get("directory")
    try:
        folder = resolve_folder(directory, ctx.input_dir, ctx.output_dir, temp_dir(ctx))
        if not any(True for _ in os.scandir(folder)):
            raise MediaPathError(f"no files in directory {directory!r} ({folder})")
        return list_images(folder, None)
    except (MediaPathError, OSError) as err:
        raise NodeInputError("directory", f"directory: {err}",
                             f"put the images in a folder inside {ctx.input_dir} or {ctx.output_dir} and name it "
                             "relative to that (e.g. output/frames)") from None


def passes(inputs: dict[str, Any], ctx: ExecContext) -> Iterator[tuple[int, Path]]:
    """``(index, file)`` for each pass: the end node's count, at least one pass. The engine
    takes these before the first pass (and refuses too many), so a pass past the last image
    is refused before anything runs."""
    start = _whole(inputs, "start_index", 0)
    limit = _whole(inputs, "limit", -1)
    first = inputs.get("initial_value0")
    first = 0 if first is None else _whole(inputs, "initial_value0", 0)
    files = image_files(inputs, ctx)
    if limit == -1:
        total = len(files) - start if start > 0 else len(files)
    else:
        total = limit
    for index in _count_until(first, lambda i: i < total):
        position = start + index
        if position >= len(files):
            name = "limit" if limit != -1 and start < len(files) else "start_index"
            raise NodeInputError(name, f"pass {index} would read image {position + 1} (start_index {start} + "
                                 f"index {index}), but the folder holds {len(files)} image file(s)",
                                 "lower limit or start_index, or add images to the folder")
        yield index, files[position]


def _start_outputs(step: tuple[int, Path], _: int, values: dict[int, Any]) -> tuple:
    index, path = step
    try:
        image, mask = load_still(path)
    except (MediaPathError, OSError) as err:
        raise NodeInputError("directory", f"directory: {path.name} cannot be read ({err})",
                             "keep only readable png, jpg or webp images in the folder") from None
    return (FlowControl(), index, image, mask, os.path.splitext(path.name)[0], values.get(0), values.get(1))


IMAGES_LOOP = register_loop(LoopKind(
    pack="comfyui-easy-use", open_type=START, close_type=END, link_input="flow",
    value_input=_value_input, steps=passes, open_outputs=_start_outputs, close_outputs=_end_outputs,
    count_input="limit", carries_unconnected=False, steps_take_context=True))

def _folder(inputs: dict) -> dict:
    """The folder the node reads, for the early check and ``--smoke``'s stand-ins."""
    return {"directory": (inputs.get("directory"), "image_folder")}


@executor(START, volatile=True, input_files=_folder)
def load_images_for_loop_unlinked(ctx: ExecContext, **_: Any) -> tuple:
    """Reached only when no ``easy forLoopEnd`` closes this node (the engine runs the pair)."""
    raise NodeInputError("flow", "this Load Images For Loop node is not linked to a For Loop End",
                         "link its 'flow' output to For Loop End's 'flow' input")
