"""Folders and written-file bookkeeping shared by the nodes that read inputs or save outputs.

ComfyUI has three folders: input, output and temp (previews). wfrun has ``ctx.input_dir`` and
``ctx.output_dir``; previews (PreviewImage, VHS_VideoCombine with ``save_output`` off) go to
``ctx.temp_dir`` when the context has one, else to ``<output_dir>/temp``, so they stay inside
the output folder the user chose and are never mixed with saved outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.media.image import (MediaPathError, find_input_file, input_file_hint, save_target, to_uint8,
                               workflow_metadata, write_png)


def temp_dir(ctx: ExecContext) -> Path:
    given = getattr(ctx, "temp_dir", None)
    return Path(given) if given else Path(ctx.output_dir) / "temp"


def input_file(ctx: ExecContext, name: str, input_name: str, what: str) -> Path:
    """A file named by a widget (``"x.png"``, ``"sub/x.png"``, ``"x.png [output]"``) inside its
    folder, or a NodeInputError saying why not."""
    if not isinstance(name, str):
        raise NodeInputError(input_name, f"expected a file name, found {type(name).__name__}")
    try:
        return find_input_file(name, ctx.input_dir, ctx.output_dir, temp_dir(ctx), what)
    except MediaPathError as err:
        raise NodeInputError(input_name, str(err), input_file_hint(what, ctx.input_dir)) from None



def record(ctx: ExecContext, path: Path) -> None:
    """Tell the run (and the console) that a file was written."""
    path = Path(path)
    ctx.written.append(path)
    if ctx.progress is not None:
        ctx.progress.wrote(path)


def save_images(ctx: ExecContext, images: torch.Tensor, filename_prefix: str, folder: Any,
                compress_level: int) -> list:
    """An IMAGE batch as numbered PNGs, as ComfyUI's SaveImage writes them (``<prefix>_<counter>_.png``
    in ``folder``, the workflow in the text chunks; ``%batch_num%`` in the prefix is each image's
    index): the one saver of SaveImage, PreviewImage and every pack's image previews. Returns
    ComfyUI's ``ui`` entries (file name, sub-folder, path)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE batch [frames, height, width, channels]")
    try:
        target = save_target(folder, filename_prefix, images[0].shape[1], images[0].shape[0])
    except MediaPathError as err:
        raise NodeInputError("filename_prefix", str(err), "use a name or a relative sub-folder/name") from None
    text = workflow_metadata(ctx.workflow_json)
    counter = target.counter
    saved = []
    for batch_number, image in enumerate(images):
        ctx.check_interrupt()  # between images: Ctrl-C stops a long batch, each file complete or absent
        stem = target.filename.replace("%batch_num%", str(batch_number))
        array = to_uint8(image)
        while True:
            path = target.folder / f"{stem}_{counter:05}_.png"
            try:
                write_png(path, array, text, compress_level)
                break
            except FileExistsError:
                counter += 1
        record(ctx, path)
        saved.append({"filename": path.name, "subfolder": target.subfolder, "path": path})
        counter += 1
    return saved
