"""Is a video file cut short? Told from its top-level structure, without decoding.

ffmpeg reads the metadata of a truncated MP4 without complaint when the cut falls after
the tags it needs, and reports nothing missing when it falls before them; so when a video
gives no workflow, this tells "the file is truncated" apart from "the file has none".
MP4/MOV are a sequence of boxes (``size, type``); Matroska/WebM an EBML header and then a
Segment whose size is declared up front. Either way, a declared size that runs past the
end of the file means the file was cut.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAX_BOXES = 100_000

_CUT = "the file ends inside its {what} (byte {start}, {size} bytes declared, {have} present): it is truncated"


def video_truncation(fp: BinaryIO, container: str) -> str | None:
    """Why the file looks cut short or damaged, or None if its structure is whole."""
    end = fp.seek(0, 2)
    if container in ("mp4", "mov"):
        return _iso_truncation(fp, end)
    return _matroska_truncation(fp, end)


def _iso_truncation(fp: BinaryIO, end: int) -> str | None:
    offset = 0
    for _ in range(MAX_BOXES):
        if offset >= end:
            return None
        fp.seek(offset)
        header = fp.read(16)
        if len(header) < 8:
            return f"the file ends inside a box header at byte {offset}: it is truncated"
        size, kind = struct.unpack(">I4s", header[:8])
        name = kind.decode("latin-1")
        if size == 0:  # the box runs to the end of the file
            return None
        if size == 1:
            if len(header) < 16:
                return f"the file ends inside a box header at byte {offset}: it is truncated"
            size = struct.unpack(">Q", header[8:16])[0]
        if size < 8:
            return f"the box at byte {offset} declares an impossible size ({size}): the file is damaged"
        if offset + size > end:
            return _CUT.format(what=f"'{name}' box", start=offset, size=size, have=end - offset)
        offset += size
    return None


def _matroska_truncation(fp: BinaryIO, end: int) -> str | None:
    fp.seek(0)
    offset = 0
    for _ in range(2):  # the EBML header, then the Segment
        element = _element(fp, offset)
        if element is None:
            return f"the file ends inside an element header at byte {offset}: it is truncated"
        element_id, data_start, size = element
        if size is None:  # "unknown size" (live recordings): nothing to compare with
            return None
        if data_start + size > end:
            what = "Segment" if element_id == 0x18538067 else "EBML header"
            return _CUT.format(what=what, start=offset, size=size, have=end - data_start)
        offset = data_start + size
    return None


def _element(fp: BinaryIO, offset: int) -> tuple[int, int, int | None] | None:
    """(id, where its data starts, its size or None if unknown) of the element at ``offset``."""
    fp.seek(offset)
    ident = _vint(fp, keep_marker=True)
    size = _vint(fp, keep_marker=False)
    if ident is None or size is None:
        return None
    (id_value, _), (size_value, length) = ident, size
    unknown = size_value == (1 << (7 * length)) - 1
    return id_value, fp.tell(), None if unknown else size_value


def _vint(fp: BinaryIO, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer: its leading zero bits give its length in bytes."""
    first = fp.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = fp.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] if keep_marker else first[0] & ((1 << (8 - length)) - 1)
    for byte in rest:
        value = (value << 8) | byte
    return value, length
