"""What kind of file this is, from its first bytes (never from its name).

Shared workflows travel as PNG/WebP images and MP4/WebM videos as often as JSON, and get
renamed on the way (``workflow.json`` that is really a PNG, ``clip.mp4`` that is a MOV), so
the container is recognised by its magic bytes.
"""

from __future__ import annotations

HEAD_BYTES = 64
"""How many bytes :func:`sniff` needs to see."""

LABELS = {
    "png": "PNG image",
    "webp": "WebP image",
    "gif": "GIF image",
    "jpeg": "JPEG image",
    "mp4": "MP4 video",
    "mov": "QuickTime (MOV) video",
    "webm": "WebM video",
    "mkv": "Matroska (MKV) video",
}
VIDEO = frozenset({"mp4", "mov", "webm", "mkv"})

# ISO base media files start with a box: 4 bytes of size, then its type. Files from
# QuickTime before the ``ftyp`` box existed start with one of these instead.
_QUICKTIME_FIRST_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def sniff(head: bytes) -> str | None:
    """The container of a file starting with ``head`` (a key of :data:`LABELS`), or None
    for anything else (JSON text, or a format no ComfyUI node embeds a workflow in)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in _QUICKTIME_FIRST_BOXES and head[:1] not in b'{["\t\n\r ':
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML; the DocType element says which
        return "webm" if b"webm" in head[:HEAD_BYTES] else "mkv"
    return None


def looks_binary(head: bytes) -> bool:
    """True for bytes no JSON text starts with (NUL, or control characters other than
    whitespace), so an unknown binary file is called that instead of "not UTF-8"."""
    return any(b < 0x20 and b not in b"\t\n\r" for b in head[:HEAD_BYTES])
