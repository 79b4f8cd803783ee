"""The nodes that take VHS_VideoCombine's ``VHS_FILENAMES``: VHS_PruneOutputs and
VHS_SelectFilename.

``VHS_FILENAMES`` is ``(save_output, [files])`` with the files in the order Video Combine
wrote them: the first-frame PNG that carries the workflow (the "utility" file, when
``VHS_MetadataImage`` is on), the video, and the video with audio muxed in when audio was
given. Everything but the first and the last is an intermediate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: VHS_PruneOutputs' choices and which positions of the file list each one deletes. "All"
#: is not offered by the widget, but the pack's code honours it, so an API prompt may send it.
_PRUNED = {
    "Intermediate": lambda files: files[1:-1],
    "Intermediate and Utility": lambda files: files[1:-1] + files[:1],
    "All": lambda files: files[1:-1] + files[:1] + files[-1:],
}


def _files(filenames: Any) -> list[Any]:
    if (not isinstance(filenames, (tuple, list)) or len(filenames) != 2
            or not isinstance(filenames[1], (tuple, list))):
        raise NodeInputError("filenames", "expected the filenames output of a Video Combine node",
                             "connect VHS_VideoCombine's Filenames output")
    return list(filenames[1])


def _inside_output(ctx: ExecContext, name: Any) -> Path:
    """``name`` as a path whose folder lies inside the run's output folder (previews live in
    ``<output>/temp``), else a NodeInputError: a prune never deletes anything elsewhere.
    The folder is resolved, not the file, so a link in the output folder is removed itself
    and its target is left alone."""
    if not isinstance(name, (str, Path)) or not str(name):
        raise NodeInputError("filenames", f"expected a file path, found {name!r}")
    path = Path(name)
    if not path.is_absolute():
        path = Path(ctx.output_dir) / path
    root = Path(ctx.output_dir).resolve()
    folder = path.parent.resolve()
    if path.name in ("", ".", "..") or not folder.is_relative_to(root):
        raise NodeInputError("filenames", f"refusing to delete {name}: it is not in the output folder {root}",
                             "prune only the files a Video Combine node of this workflow wrote")
    return folder / path.name


@executor("VHS_PruneOutputs")
def prune_outputs(ctx: ExecContext, filenames: Any, options: str) -> tuple:
    """Delete the files of one Video Combine that the workflow does not want kept.

    As the pack: nothing to do for an empty list; a list of other than two or three files
    is refused (the pack asserts); every file is checked before any is deleted, and a file
    already gone is skipped. Deleted files are dropped from the run's list of written files.
    """
    files = _files(filenames)
    if not files:
        return ()
    if not 2 <= len(files) <= 3:
        raise NodeInputError("filenames", f"expected 2 or 3 files from Video Combine, found {len(files)}",
                             "connect the Filenames output of a VHS_VideoCombine that wrote its preview PNG")
    if options not in _PRUNED:
        raise NodeInputError("options", f"unknown option {options!r}", f"use one of {', '.join(_PRUNED)}")
    doomed = [_inside_output(ctx, name) for name in _PRUNED[options](files)]
    for path in doomed:
        if path.is_file() or path.is_symlink():
            path.unlink()
    gone = set(doomed)
    ctx.written[:] = [p for p in ctx.written if _resolved_in(p) not in gone]
    return ()


def _resolved_in(path: Any) -> Path:
    path = Path(path)
    return path.parent.resolve() / path.name


@executor("VHS_SelectFilename")
def select_filename(ctx: ExecContext, filenames: Any, index: int) -> tuple:
    """One path of the list, by Python index (``-1``, the default, is the last file: the
    video with audio when there is one)."""
    files = _files(filenames)
    if not -len(files) <= int(index) < len(files):
        raise NodeInputError("index", f"index {index} is outside the {len(files)} file(s) written",
                             "use -1 for the last file, 0 for the first")
    return (str(files[int(index)]),)
