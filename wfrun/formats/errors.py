"""The errors of reading a workflow file, shared by every reader in ``formats``.

A :class:`FormatError` is a problem with the file (exit 1: the user fixes or replaces the
file); a :class:`ToolError` is a problem with this machine (exit 2: ffmpeg missing or
failing to start), and is an :class:`OSError` so that callers which already turn "cannot
read the file" into a usage error treat it the same way.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass


@dataclass
class FormatProblem:
    """One reason a file is not a readable workflow."""

    code: str  # a code of wfrun.diagnostics.CODES: "invalid-json", "schema", "too-deep", ...
    message: str
    path: str = ""  # JSON path like ``nodes[3].inputs[0].link``
    line: int | None = None
    column: int | None = None


class FormatError(Exception):
    def __init__(self, source: str, problems: list[FormatProblem]):
        self.source = source
        self.problems = problems
        first = problems[0]
        where = f":{first.line}:{first.column}" if first.line else ""
        at = f" at {first.path}" if first.path else ""
        super().__init__(f"{source}{where}: {first.message}{at}")


class ToolError(OSError):
    """A program wfrun needs to read the file could not be run (exit 2, not the file's fault)."""

    def __init__(self, message: str, filename: str | None = None):
        super().__init__(errno.ENOENT, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message
