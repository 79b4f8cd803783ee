"""The workflow text a PNG carries, read chunk by chunk without decoding the image.

ComfyUI's Save Image (and VideoHelperSuite's first-frame PNG, and wfrun's own
``write_png``) store ``workflow`` and ``prompt`` as ``tEXt`` chunks before the image data;
ComfyUI's Save Animated PNG stores them in private ``comf`` chunks (``key\\0json``) after
it. Pillow hands over text that follows the image data, and private chunks, only after
decoding every frame, and caps compressed text at 1 MiB, so the chunks are walked here: a
PNG is a signature and then ``length, type, data, CRC`` records, which is little code to
read with bounds on every length.

Like the ComfyUI frontend, the last chunk of a name wins, and a file cut short after its
workflow chunk still gives its workflow.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from wfrun.formats.candidates import Candidate, key_of
from wfrun.formats.errors import FormatProblem
from wfrun.formats.jsontext import MAX_JSON_BYTES

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt", b"comf")
MAX_CHUNKS = 1_000_000
"""Chunks walked at most (an animated PNG has two per frame)."""
_MAX_KEYWORD = 80  # PNG keywords are 1-79 bytes, then a NUL


def png_candidates(fp: BinaryIO) -> tuple[list[Candidate], str | None]:
    """The ``workflow``/``prompt`` entries, last first, and why the walk stopped before the
    end marker (None when the file is whole)."""
    found, note = _walk(fp)
    return found[::-1], note


def _walk(fp: BinaryIO) -> tuple[list[Candidate], str | None]:
    found: list[Candidate] = []
    fp.seek(len(SIGNATURE))
    for _ in range(MAX_CHUNKS):
        offset = fp.tell()
        header = fp.read(8)
        if len(header) < 8:
            return found, (f"the file ends at byte {offset} without PNG's end chunk (IEND): "
                           "it is truncated (an interrupted download or copy?)")
        length, kind = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            return found, f"the chunk at byte {offset} declares an impossible length ({length}): the file is damaged"
        if kind == b"IEND":
            return found, None
        if kind in TEXT_CHUNKS:
            cut = _read_text_chunk(fp, kind, length, found)
            if cut:
                return found, (f"the file ends inside its {kind.decode('latin-1')} chunk at byte {offset}: "
                               "it is truncated (an interrupted download or copy?)")
        fp.seek(offset + 8 + length + 4)  # past the data and the CRC
    return found, f"more than {MAX_CHUNKS} chunks: not a PNG wfrun reads"


def _read_text_chunk(fp: BinaryIO, kind: bytes, length: int, found: list[Candidate]) -> bool:
    """Append the chunk if it is a workflow or prompt; return True if the file ends inside it."""
    start = fp.read(min(length, _MAX_KEYWORD))
    if b"\0" not in start:
        return len(start) < min(length, _MAX_KEYWORD)
    raw_key, _ = start.split(b"\0", 1)
    key = key_of(raw_key.decode("latin-1"))
    if key is None:
        return False
    name = kind.decode("latin-1")
    origin = (f"PNG 'comf' chunk '{key}' (ComfyUI's Save Animated PNG)" if kind == b"comf"
              else f"PNG {name} chunk '{key}'")
    if length > MAX_JSON_BYTES:
        found.append(Candidate(key, origin, problem=FormatProblem(
            "too-large", f"the {origin} is {length / 2**20:.1f} MiB, over wfrun's limit of "
            f"{MAX_JSON_BYTES // 2**20} MiB for a workflow; it was not read")))
        return False
    data = start + fp.read(length - len(start))
    if len(data) < length:
        found.append(Candidate(key, origin, problem=FormatProblem(
            "bad-media", f"the file ends inside its {origin}, after {len(data)} of its {length} bytes: it is "
            "truncated (an interrupted download or copy?)")))
        return True
    body = data[len(raw_key) + 1:]
    try:
        text = _decode(kind, body)
    except _Undecodable as err:
        found.append(Candidate(key, origin, problem=FormatProblem(
            err.code, f"the {origin} cannot be decoded: {err}")))
        return False
    found.append(Candidate(key, origin, text=text))
    return False


class _Undecodable(ValueError):
    def __init__(self, message: str, code: str = "bad-media"):
        super().__init__(message)
        self.code = code


def _decode(kind: bytes, body: bytes) -> str:
    if kind == b"zTXt":
        if body[:1] != b"\0":
            raise _Undecodable("unknown compression method")
        return _text(_inflate(body[1:]))
    if kind == b"iTXt":
        if len(body) < 2:
            raise _Undecodable("the chunk is cut short")
        compressed, method, rest = body[0], body[1], body[2:]
        parts = rest.split(b"\0", 2)  # language tag, translated keyword, text
        if len(parts) < 3:
            raise _Undecodable("the chunk is cut short")
        payload = parts[2]
        if compressed:
            if method != 0:
                raise _Undecodable("unknown compression method")
            payload = _inflate(payload)
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _Undecodable(f"its text is not UTF-8 (byte offset {err.start})") from None
    return _text(body)  # tEXt, comf


def _text(data: bytes) -> str:
    """PNG says ``tEXt`` is Latin-1; the ComfyUI frontend decodes it as UTF-8. ComfyUI writes
    ASCII JSON either way, so UTF-8 is tried first and Latin-1 (which always decodes) after."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _inflate(data: bytes) -> bytes:
    """zlib data, refused past the size limit instead of filling memory (a zip bomb)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_JSON_BYTES + 1)
    except zlib.error as err:
        raise _Undecodable(f"its compressed text is damaged ({err})") from None
    if len(out) > MAX_JSON_BYTES or inflater.unconsumed_tail:
        raise _Undecodable(f"its text inflates to more than wfrun's limit of {MAX_JSON_BYTES // 2**20} MiB "
                           "for a workflow", code="too-large")
    return out
