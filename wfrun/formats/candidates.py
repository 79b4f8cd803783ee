"""A workflow found inside a media file, before it is parsed: which entry, where, and its text.

Each container reader (``png``, ``exif``, ``ffmeta``) lists what it found; ``embedded``
chooses among them. A reader that found an entry it could not decode lists it with a
``problem``, so that the choice can fall back to another entry and still say what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wfrun.formats.errors import FormatProblem

KEYS = ("workflow", "prompt")
"""The names ComfyUI stores under: the UI workflow (preferred) and the API prompt."""


@dataclass
class Candidate:
    key: str  # "workflow" or "prompt"
    origin: str  # where it was, for messages: "PNG text chunk 'workflow'"
    text: str | None = None  # JSON text, still to be parsed
    value: Any = None  # or an already-parsed value (from VideoHelperSuite's JSON comment)
    problem: FormatProblem | None = None  # the entry was there but could not be decoded


def key_of(name: str) -> str | None:
    """The :data:`KEYS` entry a stored name means (ComfyUI writes lowercase; Matroska
    tags come back uppercase from ffmpeg), or None."""
    lowered = name.strip().lower()
    return lowered if lowered in KEYS else None


def from_json_comment(text: str, where: str) -> list[Candidate]:
    """Entries of a comment that is a JSON object with ``workflow``/``prompt`` members, as
    VideoHelperSuite's Video Combine writes (its ``prompt`` is itself JSON text, its
    ``workflow`` an object). Any other comment is not ours and gives nothing."""
    from wfrun.formats.errors import FormatError
    from wfrun.formats.jsontext import parse

    if not text.lstrip().startswith("{"):
        return []
    try:
        data = parse(text, "", f"the {where}", positions=False)
    except FormatError as err:
        if any(f'"{key}"' in text for key in KEYS):  # meant to hold a workflow, but damaged
            return [Candidate("workflow", where, problem=err.problems[0])]
        return []
    if not isinstance(data, dict):
        return []
    return [Candidate(key, f"{where}'s '{key}' entry", text=value if isinstance(value, str) else None,
                      value=None if isinstance(value, str) else value)
            for key in KEYS if (value := data.get(key)) is not None]
