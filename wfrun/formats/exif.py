"""Workflows in WebP, JPEG and GIF files: EXIF tags and GIF comments.

ComfyUI's Save Animated WEBP writes ``prompt:<json>`` into EXIF tag 0x0110 (Model) and each
extra entry as ``<name>:<json>`` from tag 0x010F (Make) downwards, so the workflow is
``workflow:<json>`` in 0x010F; the ComfyUI frontend reads any EXIF text of that
``name:value`` shape, and so does this module (in WebP and JPEG files alike). Pillow parses
the EXIF block; for WebP only the block is handed to it: a WebP file is RIFF chunks, and
walking them to the ``EXIF`` chunk avoids Pillow reading (and decoding) the whole animation.

VideoHelperSuite's Pillow outputs (``image/gif``, ``image/webp``) carry no workflow; it
saves a PNG of the first frame beside them for that.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO, Iterable

from wfrun.formats.candidates import Candidate, from_json_comment, key_of
from wfrun.formats.errors import FormatProblem
from wfrun.formats.jsontext import MAX_JSON_BYTES

MAX_CHUNKS = 1_000_000
"""RIFF chunks walked at most (an animated WebP has one per frame)."""
_EXIF_IFD = 0x8769


def webp_candidates(fp: BinaryIO) -> tuple[list[Candidate], str | None]:
    """Entries from the ``EXIF`` chunk, and why the walk stopped early (None if whole)."""
    end = fp.seek(0, 2)
    truncated = "the file ends inside its {} chunk at byte {}: it is truncated (an interrupted download or copy?)"
    fp.seek(12)  # "RIFF", size, "WEBP"
    for _ in range(MAX_CHUNKS):
        offset = fp.tell()
        if offset >= end:
            return [], None
        header = fp.read(8)
        if len(header) < 8:
            return [], truncated.format("last", offset)
        kind, size = struct.unpack("<4sI", header)
        name = kind.decode("latin-1")
        if offset + 8 + size > end:
            return [], truncated.format(repr(name), offset)
        if kind == b"EXIF":
            if size > MAX_JSON_BYTES * 2:
                return [Candidate("workflow", "WebP EXIF chunk", problem=FormatProblem(
                    "too-large", f"the WebP EXIF chunk is {size / 2**20:.1f} MiB, over wfrun's limit; "
                    "it was not read"))], None
            return _exif_block_candidates(fp.read(size), "WebP EXIF"), None
        fp.seek(offset + 8 + size + (size & 1))  # chunks are padded to an even size
    return [], f"more than {MAX_CHUNKS} chunks: not a WebP wfrun reads"


def _exif_block_candidates(data: bytes, where: str) -> list[Candidate]:
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(data)
        entries = list(_exif_entries(exif))
    # Pillow's TIFF reader raises many undocumented kinds of error on damaged bytes, and
    # these bytes come from the internet: any failure means "unreadable EXIF", nothing more.
    except Exception as err:  # noqa: BLE001
        return [Candidate("workflow", f"{where} block", problem=FormatProblem(
            "bad-media", f"the {where} block cannot be read ({type(err).__name__}): the file is damaged"))]
    return [c for tag, value in entries if (c := _tag_candidate(tag, value, where)) is not None]


def _exif_entries(exif: Any) -> Iterable[tuple[int, Any]]:
    yield from exif.items()
    yield from exif.get_ifd(_EXIF_IFD).items()


def _tag_candidate(tag: int, value: Any, where: str) -> Candidate | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    name, sep, text = value.partition(":")
    key = key_of(name) if sep else None
    if key is None:
        return None
    return Candidate(key, f"{where} tag 0x{tag:04X} '{key}:'", text=text.rstrip("\0"))


def pillow_candidates(fp: BinaryIO, container: str) -> tuple[list[Candidate], str | None]:
    """JPEG: EXIF as in WebP. GIF: a comment holding ``name:json`` or a JSON object with
    ``workflow``/``prompt`` (the layout of VideoHelperSuite's video comment)."""
    from PIL import Image

    fp.seek(0)
    try:
        with Image.open(fp) as image:
            if container == "jpeg":
                return [c for tag, value in _exif_entries(image.getexif())
                        if (c := _tag_candidate(tag, value, "JPEG EXIF")) is not None], None
            comment = image.info.get("comment", b"")
    except Exception as err:  # noqa: BLE001 - as above: damaged internet files, any Pillow error
        return [], f"Pillow cannot read it ({type(err).__name__}: {str(err)[:200]}): the file is damaged or truncated"
    return _comment_candidates(comment, "GIF comment"), None


def _comment_candidates(comment: bytes | str, where: str) -> list[Candidate]:
    text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else comment
    tagged = _tag_candidate(0, text, where)
    if tagged is not None:
        tagged.origin = f"{where} '{tagged.key}:'"
        return [tagged]
    return from_json_comment(text, where)
