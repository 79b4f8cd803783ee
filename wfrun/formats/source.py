"""The one function every command reads a workflow file with: JSON, or embedded in media.

``run``, ``validate``, ``graph``, ``convert`` and ``migrate`` all call :func:`read_workflow`,
so a file is accepted, or refused with the same words, whatever the command. It looks at
the first bytes, not the name: a PNG, WebP, JPEG, GIF, MP4, MOV, WebM or MKV file gives
the workflow embedded in it (see :mod:`wfrun.formats.embedded`); anything else must be
UTF-8 JSON text within the size limit (see :mod:`wfrun.formats.jsontext`).

Problems with the file raise :class:`~wfrun.formats.errors.FormatError` (exit 1); a file
that cannot be opened raises :class:`OSError`, and a missing ffmpeg a
:class:`~wfrun.formats.errors.ToolError`, which is one (exit 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfrun.formats import jsontext
from wfrun.formats.errors import FormatError, FormatProblem
from wfrun.formats.sniff import HEAD_BYTES, LABELS, looks_binary, sniff


@dataclass(frozen=True)
class Loaded:
    """What a workflow file held."""

    data: Any  # the JSON value
    text: str  # JSON text: the file's own, or the embedded workflow as the frontend saves it
    source: str  # the path, as given
    container: str | None = None  # "png", "mp4", ... for a media file; None for JSON
    origin: str | None = None  # where in the media file: "PNG text chunk 'workflow'"
    passed_over: tuple[FormatProblem, ...] = ()  # entries of the media file that could not be used

    @property
    def embedded(self) -> bool:
        return self.container is not None


def read_workflow(path: str | os.PathLike[str]) -> Loaded:
    """Read the workflow at ``path`` (see the module docstring)."""
    path = Path(path)
    source = str(path)
    with open(path, "rb") as fp:
        head = fp.read(HEAD_BYTES)
        container = sniff(head)
        if container is not None:
            from wfrun.formats.embedded import read_embedded

            value, chosen, passed_over = read_embedded(fp, path, container)
            return Loaded(value, jsontext.dump(value), source, container, chosen.origin, tuple(passed_over))
        size = os.fstat(fp.fileno()).st_size
        if size > jsontext.MAX_JSON_BYTES:
            raise FormatError(source, [jsontext.too_large(size, "the file")])
        raw = head + fp.read(jsontext.MAX_JSON_BYTES + 1 - len(head))
    if len(raw) > jsontext.MAX_JSON_BYTES:  # it grew since it was measured
        raise FormatError(source, [jsontext.too_large(len(raw), "the file")])
    try:
        text = jsontext.decode(raw, source)
        return Loaded(jsontext.parse(text, source), text, source)
    except FormatError as err:
        if err.problems[0].code == "invalid-json" and looks_binary(head) and not head.startswith(
                (b"\xff\xfe", b"\xfe\xff")):
            raise FormatError(source, [FormatProblem("invalid-json", _not_a_workflow_file(head))]) from None
        raise


def _not_a_workflow_file(head: bytes) -> str:
    kinds = ", ".join(sorted({label.split(" ")[0] for label in LABELS.values()}))
    return (f"not a workflow file: it is neither JSON text nor an image or video wfrun reads workflows from "
            f"({kinds}); it starts with bytes {head[:8].hex(' ')}")


def json_beside(path: str | os.PathLike[str], limit: int = 100) -> Path:
    """A free name for the JSON of a media file's workflow: ``clip.json``, else ``clip.1.json``,
    ``clip.2.json``, ... (never an existing file); :class:`FileExistsError` after ``limit``."""
    path = Path(path)
    for number in range(limit):
        candidate = path.with_name(f"{path.stem}.json" if number == 0 else f"{path.stem}.{number}.json")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise FileExistsError(f"{path.with_suffix('.json')} and the next {limit - 1} numbered names beside it exist; "
                          "give -o/--output to say where the JSON goes")


def container_of(path: str | os.PathLike[str]) -> str | None:
    """The media container of the file at ``path`` ("png", "mp4", ...), or None for text."""
    with open(path, "rb") as fp:
        return sniff(fp.read(HEAD_BYTES))
