"""Folders and written-file bookkeeping shared by the nodes that read inputs or save outputs.

ComfyUI has three folders: input, output and temp (previews). wfrun has ``ctx.input_dir`` and
``ctx.output_dir``; previews (PreviewImage, VHS_VideoCombine with ``save_output`` off) go to
``ctx.temp_dir`` when the context has one, else to ``<output_dir>/temp``, so they stay inside
the output folder the user chose and are never mixed with saved outputs.
"""

from __future__ import annotations

from pathlib import Path

from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.media.image import MediaPathError, find_input_file, input_file_hint


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
