"""Files a saved request carries for ComfyUI's input folder (RunPod worker-comfyui's
``input.images``), decoded and checked, so a run can read them where the worker would
have put them.

The worker takes ``[{"name": "start.png", "image": "<base64>"}]`` (a ``data:...;base64,``
prefix allowed) and uploads each to ComfyUI's input folder under its name before it queues
the workflow; a loader naming ``start.png`` then reads it. The request is untrusted: names
are plain relative paths (no ``..``, no absolute or drive paths, no backslashes), the base64
is strict, and the count and sizes are limited. URLs (some forks of the worker download
them) are refused: wfrun reads no network.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from wfrun.formats.errors import FormatError, FormatProblem

#: Files one request may carry, and their decoded sizes (each, all together).
MAX_ATTACHMENTS = 64
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
MAX_ATTACHMENTS_BYTES = 256 * 1024 * 1024
_NAME_PART = re.compile(r"^[^\x00-\x1f/\\:*?\"<>|]{1,255}$")


@dataclass(frozen=True)
class Attachment:
    """One file for the input folder: its name there (``a/b.png``) and its bytes."""

    name: str
    data: bytes


def worker_images(images: Any, source: str, where: str = "input.images") -> tuple[Attachment, ...]:
    """The decoded ``images`` of a worker request; a :class:`FormatError` naming the entry
    for anything else (not a list of {name, image}, an unsafe name, a URL, bad base64, too
    many or too large)."""
    if not isinstance(images, list):
        raise _refused(source, where, "a list of {\"name\": ..., \"image\": <base64>} entries", images)
    if len(images) > MAX_ATTACHMENTS:
        raise _refused(source, where, f"at most {MAX_ATTACHMENTS} images", f"{len(images)} images")
    found: dict[str, Attachment] = {}
    total = 0
    for index, entry in enumerate(images):
        at = f"{where}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("image"), str):
            raise _refused(source, at, "an object with a text \"name\" and a base64 \"image\"", entry)
        name = _safe_name(entry["name"], source, f"{at}.name")
        data = _decoded(entry["image"], source, f"{at}.image")
        total += len(data)
        if total > MAX_ATTACHMENTS_BYTES:
            raise _refused(source, at, f"at most {MAX_ATTACHMENTS_BYTES >> 20} MiB of images in one request",
                           f"{total >> 20} MiB so far")
        found[name] = Attachment(name, data)  # a name given twice: the last upload wins, as in ComfyUI
    return tuple(found.values())


def _safe_name(name: str, source: str, where: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") or not _NAME_PART.match(p) for p in parts):
        raise _refused(source, where, "a file name (folders with /, no .., no absolute path)", name)
    return name


def _decoded(text: str, source: str, where: str) -> bytes:
    if text.startswith(("http://", "https://")):
        raise FormatError(source, [FormatProblem(
            "unknown-format", "an image given as a URL: wfrun downloads nothing; save the file in the input "
            "folder under its name and run input.workflow alone", where)])
    payload = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    payload = "".join(payload.split())
    if len(payload) > (MAX_ATTACHMENT_BYTES // 3 + 1) * 4:
        raise _refused(source, where, f"an image of at most {MAX_ATTACHMENT_BYTES >> 20} MiB",
                       f"about {len(payload) * 3 // 4 >> 20} MiB")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _refused(source, where, "base64 text (optionally after a data: prefix)", text[:40]) from None


def _refused(source: str, where: str, expected: str, found: Any) -> FormatError:
    shown = found if isinstance(found, str) else type(found).__name__
    return FormatError(source, [FormatProblem("unknown-format", f"a worker request's image: expected {expected}, "
                                              f"found {str(shown)[:60]!r}", where)])
