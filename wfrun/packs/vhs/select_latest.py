"""VideoHelperSuite's VHS_SelectLatest (``nodes.py`` and ``web/js/VHS.core.js``, since
532de49, 2025-02-25): the most recently modified file whose path starts with
``filename_prefix`` and ends with ``filename_postfix``.

In the pack it is a *virtual* node: its Python function is unreachable; the front end lists
the folder of ``filename_prefix`` (the text before its last ``/``) through the server's
``/vhs/getpath``, keeps the entries whose names start with the rest of the prefix and end with
the postfix (folders are listed with a trailing ``/``), sorts them by modification time and
writes ``folder + newest name`` into the widget its output is linked to, before the prompt is
queued. wfrun runs it as a node giving that text, which the linked loader then opens.

Differences, because workflows come from the internet and wfrun has no ComfyUI folder: the
folder must be inside wfrun's input, output or temp folder, named as the VHS path loaders
name it (``output/…``, ``input/…``, ``temp/…``, a plain relative folder being in the input
folder; ``wfrun.packs.vhs.path_loaders.resolve_path``). With no matching file the pack
leaves the linked widget's saved value alone; wfrun does not know that value here, and stops
with an error naming ``filename_prefix``. The folder is read when the node runs, which may be
after an earlier node of the same run wrote a file there (the pack reads it before the run).
"""

from __future__ import annotations

import os
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.vhs.path_loaders import MAX_ENTRIES, resolve_path


def _entries(folder: os.PathLike[str]) -> list[tuple[float, str]]:
    """(mtime, name) of each entry, folders with a trailing ``/`` (as ``/vhs/getpath``)."""
    found: list[tuple[float, str]] = []
    with os.scandir(folder) as scan:
        for entry in scan:
            if len(found) >= MAX_ENTRIES:
                raise NodeInputError("filename_prefix", f"the folder holds more than {MAX_ENTRIES} entries")
            try:
                name = entry.name + "/" if entry.is_dir() else entry.name
                found.append((entry.stat().st_mtime, name))
            except OSError:  # a broken link: the pack's listing skips it too
                continue
    return found


@executor("VHS_SelectLatest", volatile=True)  # volatile: the folder changes between runs
def select_latest(ctx: ExecContext, filename_prefix: Any, filename_postfix: Any, **_: Any) -> tuple:
    for name, value in (("filename_prefix", filename_prefix), ("filename_postfix", filename_postfix)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected text, found {type(value).__name__}")
    cut = filename_prefix.rfind("/") + 1
    folder_text, stem = filename_prefix[:cut], filename_prefix[cut:]
    if not folder_text:
        raise NodeInputError("filename_prefix", f"filename_prefix {filename_prefix!r} names no folder",
                             "start it with output/, input/ or temp/, e.g. output/AnimateDiff")
    folder = resolve_path(ctx, folder_text, "filename_prefix", "folder", folder=True)
    chosen = [(mtime, name) for mtime, name in _entries(folder)
              if name.startswith(stem) and name.endswith(filename_postfix)]
    if not chosen:
        raise NodeInputError("filename_prefix", f"no file in {folder} starts with {stem!r} and ends with "
                             f"{filename_postfix!r}", "run the workflow that writes it first, or fix the prefix")
    chosen.sort(key=lambda item: item[0])  # stable, as the pack's sort by modification time
    return (folder_text + chosen[-1][1],)
