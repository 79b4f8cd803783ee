"""The pack's PathOutputDir and PathListDir (``path_nodes.py``), kept inside wfrun's folders.

* PathOutputDir: ComfyUI's output folder, here the run's output folder (absolute).
* PathListDir: ``os.listdir(path)`` in the order the system gives (the pack does not sort),
  only files with ``files_only``, else only folders with ``dirs_only``; a data list
  (``OUTPUT_IS_LIST``) of the entry names. A path that does not exist or is not a folder is
  an error, as in the pack.

A workflow from the internet must not read the machine's folders: the path must lie inside
the run's input or output folder (symbolic links followed first). The pack lists the
current directory for an empty path and reads relative paths from ComfyUI's own folder,
which wfrun does not have: such paths are refused on ``path``, naming the folders allowed.
The listing is limited to :data:`MAX_ENTRIES` names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.basic_data_handling.common import PREFIX, describe
from wfrun.packs.basic_data_handling.data_lists import MAX_ITEMS, _names

MAX_ENTRIES = MAX_ITEMS
#: A drive (``F:\``) or network (``\\server\share``) path: absolute on Windows, where the
#: workflow was made; on another system a relative name that would not mean that folder.
WINDOWS_PATH = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")


@executor(PREFIX + "PathOutputDir", volatile=True)
def output_dir(ctx: ExecContext, **_: Any) -> tuple:
    return (str(Path(ctx.output_dir).resolve()),)


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def confined_folder(ctx: ExecContext, value: Any, name: str) -> Path:
    """``value`` as a folder inside the run's input or output folder, or NodeInputError."""
    roots = [Path(ctx.input_dir).resolve(), Path(ctx.output_dir).resolve()]
    allowed = f"a folder inside {roots[0]} or {roots[1]}"
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a folder path, found {describe(value)}")
    if WINDOWS_PATH.match(value) and os.name != "nt":
        raise NodeInputError(name, f"{name}: {value!r} is a Windows folder of the machine the workflow was saved on",
                             f"give the absolute path of {allowed}")
    if not value or not os.path.isabs(value):
        raise NodeInputError(name, f"{name}: {value!r} is relative to ComfyUI's own folder, which wfrun does "
                             "not have", f"give the absolute path of {allowed}")
    path = Path(value).resolve()
    if not _inside(path, roots):
        raise NodeInputError(name, f"{name}: {value!r} is outside the run's input and output folders",
                             f"wfrun lists only {allowed}")
    if not path.exists():
        raise NodeInputError(name, f"{name}: the folder {value!r} does not exist", f"create it, or give {allowed}")
    if not path.is_dir():
        raise NodeInputError(name, f"{name}: {value!r} is not a folder")
    return path


@executor(*_names("PathListDir"), volatile=True)
def list_dir(ctx: ExecContext, path: Any, files_only: Any, dirs_only: Any,
             **_: Any) -> tuple:
    folder = confined_folder(ctx, path, "path")
    entries = []
    with os.scandir(folder) as found:
        for entry in found:
            if len(entries) >= MAX_ENTRIES:
                raise NodeInputError("path", f"path: the folder holds more than {MAX_ENTRIES} entries",
                                     "list a smaller folder")
            entries.append(entry)
    if files_only and files_only != "False":
        entries = [e for e in entries if (folder / e.name).is_file()]
    elif dirs_only and dirs_only != "False":
        entries = [e for e in entries if (folder / e.name).is_dir()]
    return ([e.name for e in entries],)
