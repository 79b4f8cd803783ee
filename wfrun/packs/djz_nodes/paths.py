"""``ProjectFilePathNode`` (``ProjectFilePathNode.py``): ``root``, ``project_name``,
``subfolder`` and ``filename`` joined into one path string, which the workflows wire into a
save node's ``filename_prefix``.

What the pack does, in order (signature unchanged since 2024-09-14; files with the 2024-09-13
signature add nothing a later one lacks, ``filename``'s default aside):

* each folder part loses ``< > : " | ? *``, has spaces made ``_``, and loses leading and
  trailing ``.``, ``/`` and ``\\``; the file name loses the same characters plus ``/`` and
  ``\\`` and then its extension (``os.path.splitext``);
* since 2026-04-07 (commit 34d7496) every ``..`` is first removed from each part as well;
  wfrun does so for every file, whatever its date: a ``..`` left in would only make the
  save node refuse the prefix (wfrun never writes outside the output folder), so removing it
  is the one behaviour that runs;
* the non-empty parts are joined with the separator (``auto``: the platform's), then
  ``os.path.normpath`` (on POSIX a backslash is a plain character and all parts empty give
  ``.``).

The 2024-09-13 version (a day old when replaced) kept the extension and appended the file
name after a platform join; no saved file in the wild carries it, and wfrun reads those with
the later rules.
"""

from __future__ import annotations

import os
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.values import text

_UNSAFE = ('<', '>', ':', '"', '|', '?', '*')
_LIMIT = 4096


def folder_part(value: str) -> str:
    value = value.replace("..", "")
    for char in _UNSAFE:
        value = value.replace(char, "")
    return value.replace(" ", "_").strip("./\\")


def file_part(value: str) -> str:
    for char in _UNSAFE + ("/", "\\"):
        value = value.replace(char, "")
    value = value.replace("..", "")
    return os.path.splitext(value)[0]


@executor("ProjectFilePathNode", pure=True)
def project_file_path(ctx: ExecContext, root: Any, project_name: Any, subfolder: Any, filename: Any,
                      separator: str, **_: Any) -> tuple:
    parts = [folder_part(text(root, "root", _LIMIT)), folder_part(text(project_name, "project_name", _LIMIT)),
             folder_part(text(subfolder, "subfolder", _LIMIT)), file_part(text(filename, "filename", _LIMIT))]
    if separator not in ("auto", "forward_slash", "backslash"):
        raise NodeInputError("separator", f"separator: {separator!r} is not auto, forward_slash or backslash")
    sep = {"auto": os.path.sep, "forward_slash": "/", "backslash": "\\"}[separator]
    joined = sep.join(p for p in parts if p)
    return (os.path.normpath(joined),)
