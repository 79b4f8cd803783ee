"""Bytes to a JSON value, safely: workflow files are untrusted internet files.

Python's ``json`` module is fast and correct, but on hostile input it fails in ways a user
cannot act on: ``RecursionError`` for deeply nested arrays, a bare ``ValueError`` for an
integer of thousands of digits, ``UnicodeDecodeError`` for a file that is not UTF-8, and it
silently accepts ``NaN``, ``Infinity`` and ``1e999``, which later make wfrun write invalid
JSON. Here each of these becomes a :class:`~wfrun.formats.document.FormatError` that says
what was found, where, and what to do.

``what`` in the messages names the text: "the file" for a JSON file, or e.g. "the workflow
in the PNG text chunk 'workflow'" for a workflow embedded in an image or a video.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from wfrun.formats.errors import FormatError, FormatProblem

MAX_JSON_BYTES = 64 * 2**20
"""Largest workflow text read (a file, or a workflow embedded in a media file). The
biggest real workflows are a few MiB; anything larger is refused before it is parsed."""

MAX_DEPTH = 200
"""Deepest nesting of arrays and objects accepted. Real workflows nest fewer than 20 deep;
Python's parser and every recursive walk after it would fail near 1000."""

MAX_INT = 2**1024
"""Largest integer magnitude accepted: the float range, since the ComfyUI frontend (and any
JavaScript reader) holds numbers as doubles and turns anything larger into ``Infinity``."""

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _NonFinite(ValueError):
    """Raised from the parser's hooks for ``NaN``, ``Infinity`` and floats beyond the range."""

    def __init__(self, literal: str):
        super().__init__(literal)
        self.literal = literal


def decode(raw: bytes, source: str, what: str = "the file") -> str:
    """UTF-8 text, a leading byte-order mark dropped (Windows editors add one)."""
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM):]
    elif raw.startswith(_UTF16_BOMS):
        raise FormatError(source, [FormatProblem(
            "invalid-json", f"{what} is UTF-16 text, not UTF-8 (it starts with a UTF-16 byte-order mark); "
            "ComfyUI reads and writes workflows as UTF-8: save it again as UTF-8 "
            "(in PowerShell, redirect with `| Out-File -Encoding utf8`)")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise FormatError(source, [FormatProblem(
            "invalid-json", f"{what} is not UTF-8 text: byte 0x{raw[err.start]:02x} at line {line}, "
            f"column {column} (byte offset {err.start}) cannot be decoded; ComfyUI saves workflows as "
            "UTF-8: save the file again as UTF-8", line=line, column=column)]) from None


def parse(text: str, source: str, what: str = "the file", positions: bool = True) -> Any:
    """Parse JSON text with the limits above; every failure is a :class:`FormatError`.

    ``positions``: put the line and column into the problem's ``line``/``column`` (they
    then print as ``file:line:col``); for text embedded in a media file they are given in
    the message instead, as they count lines of the embedded text, not of the file.
    """
    if not text.strip():
        raise FormatError(source, [FormatProblem(
            "invalid-json", f"{what} is empty: a workflow is a JSON object; export it again from ComfyUI "
            "(Workflow > Export)")])
    if len(text) > MAX_JSON_BYTES:  # characters: at most as many as bytes
        raise FormatError(source, [too_large(len(text.encode("utf-8", "surrogatepass")), what)])
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as err:
        raise FormatError(source, [_at(FormatProblem("invalid-json", f"{what} is not valid JSON: {err.msg}"),
                                       err.lineno, err.colno, positions)]) from None
    except RecursionError:
        raise FormatError(source, [_too_deep(what)]) from None
    except _NonFinite as err:
        raise FormatError(source, [_non_finite(text, err.literal, what, positions)]) from None
    except ValueError as err:  # the int-from-string digit limit of Python >= 3.11
        raise FormatError(source, [_huge_int(text, what, positions, str(err))]) from None
    try:
        _check_shape(value, source, what)
    except _HugeInt as err:
        raise FormatError(source, [_huge_int(text, what, positions, str(err))]) from None
    return value


def _refuse_constant(literal: str) -> Any:
    raise _NonFinite(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NonFinite(literal)
    return value


class _HugeInt(ValueError):
    """An integer beyond :data:`MAX_INT`, found after parsing."""


def check_shape(value: Any, source: str, what: str) -> None:
    """Nesting depth and integer size of an already-parsed value (e.g. one a caller parsed)."""
    try:
        _check_shape(value, source, what)
    except _HugeInt as err:
        raise FormatError(source, [_huge_int("", what, False, str(err))]) from None


def _check_shape(value: Any, source: str, what: str) -> None:
    """Depth and integers in one pass over the containers, with a stack (no recursion)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormatError(source, [_too_deep(what)])
        for item in container.values() if isinstance(container, dict) else container:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is int and not -MAX_INT < item < MAX_INT:
                raise _HugeInt(f"{len(str(abs(item)))} digits")


def _too_deep(what: str) -> FormatProblem:
    return FormatProblem("too-deep", f"{what} nests arrays or objects more than {MAX_DEPTH} levels deep "
                         "(a real workflow nests fewer than 20); it is damaged or not a workflow")


def too_large(size: int, what: str) -> FormatProblem:
    return FormatProblem("too-large", f"{what} is {size / 2**20:.1f} MiB, over wfrun's limit of "
                         f"{MAX_JSON_BYTES // 2**20} MiB for a workflow (real ones are a few MiB); "
                         "it was not read: check that this is the workflow you meant")


# Strings are skipped so that a "NaN" or a long run of digits inside a string is not taken.
_STRING = r'"(?:[^"\\]|\\.)*"'
_CONSTANT_RE = re.compile(_STRING + r"|(-?(?:NaN|Infinity)|-?\d+(?:\.\d+)?[eE][+-]?\d+)", re.S)
_LONG_INT_RE = re.compile(_STRING + r"|(-?\d{309,})", re.S)  # MAX_INT has 309 digits


def _first(pattern: re.Pattern[str], text: str, accept=lambda token: True) -> tuple[int, str] | None:
    for match in pattern.finditer(text):
        token = match.group(1)
        if token is not None and accept(token):
            return match.start(1), token
    return None


def _non_finite(text: str, literal: str, what: str, positions: bool) -> FormatProblem:
    found = _first(_CONSTANT_RE, text, lambda token: not math.isfinite(float(token)))
    shown = found[1] if found else literal
    if shown.lstrip("-") in ("NaN", "Infinity"):
        why = ("which is not JSON (JSON has no NaN or Infinity; Python's json module writes them for values "
               "that are not finite)")
    else:
        why = "a number beyond the range of a double (up to about 1.8e308), which every reader takes as infinity"
    problem = FormatProblem(
        "bad-number", f"{what} holds {shown}, {why}: replace it with a number, or re-export the workflow "
        "from ComfyUI")
    if found:
        line, column = _line_column(text, found[0])
        return _at(problem, line, column, positions)
    return problem


def _huge_int(text: str, what: str, positions: bool, detail: str) -> FormatProblem:
    found = _first(_LONG_INT_RE, text, _beyond) if text else None
    digits = (f"{len(found[1].lstrip('-'))} digits" if found
              else detail if detail.endswith(" digits") else "too many digits")
    problem = FormatProblem(
        "bad-number", f"{what} holds an integer of {digits}, beyond the range of a JSON number as "
        "ComfyUI reads it (a double, up to about 1.8e308); the file was damaged or made by a tool: "
        "replace the value")
    if found:
        line, column = _line_column(text, found[0])
        return _at(problem, line, column, positions)
    return problem


def _beyond(token: str) -> bool:
    return len(token.lstrip("-")) > 309 or not -MAX_INT < int(token) < MAX_INT


def _line_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _at(problem: FormatProblem, line: int, column: int, positions: bool) -> FormatProblem:
    if positions:
        problem.line, problem.column = line, column
    else:
        problem.message += f" (line {line}, column {column} of the embedded text)"
    return problem


def dump(value: Any) -> str:
    """JSON text as the ComfyUI frontend saves it (indent 2, UTF-8 kept, newline at the end).

    ``NaN`` and infinities are refused rather than written as ``NaN``/``Infinity``, which
    are not JSON and which ComfyUI cannot load.
    """
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as err:
        raise FormatError("<output>", [FormatProblem(
            "bad-number", f"a value is not a finite number, and JSON cannot hold it ({err}); nothing was written")]) from None
