"""Workflows in MP4, MOV, WebM and MKV files, read through ffmpeg's metadata output.

Three layouts are in use, all container-level tags:

* ComfyUI's Save Video / Save WEBM (PyAV) and wfrun's own video writer: one tag per entry,
  ``workflow`` and ``prompt``, each JSON text (MP4/MOV keep such tags with
  ``movflags=use_metadata_tags``; Matroska tags come back upper-case);
* VideoHelperSuite's Video Combine: one ``comment`` tag holding a JSON object whose
  ``workflow`` is an object and whose ``prompt`` is JSON text again.

ffmpeg (the binary that the declared ``imageio-ffmpeg`` ships) prints a container's tags
with ``-f ffmetadata``, which needs no decoding and so takes milliseconds on any file; its
output is read with a size limit and a time limit, as the file is untrusted.

The ``;FFMETADATA1`` text escapes ``= ; # \\`` and newline with a backslash; the parser here
keeps only the global section (stream and chapter tags follow in ``[SECTION]`` blocks).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from pathlib import Path

from wfrun.formats.candidates import Candidate, from_json_comment, key_of
from wfrun.formats.errors import ToolError
from wfrun.formats.jsontext import MAX_JSON_BYTES

MAX_METADATA_BYTES = 2 * MAX_JSON_BYTES + 2**20
"""Most metadata text read from ffmpeg: a workflow and a prompt at their limit, and change."""
TIMEOUT_S = 60.0


class MetadataError(ValueError):
    """ffmpeg could not read the file's metadata; the message says why, in ffmpeg's words."""


def ffmpeg_exe(path: str | None = None) -> str:
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a declared dependency
        raise ToolError("reading a workflow from a video needs ffmpeg: pip install imageio-ffmpeg", path) from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as err:  # pragma: no cover - the wheel ships a binary
        raise ToolError(f"reading a workflow from a video needs ffmpeg, and none was found ({err}); "
                        "set IMAGEIO_FFMPEG_EXE to an ffmpeg binary", path) from None


DEMUXERS = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska"}


def read_tags(path: str | Path, container: str) -> dict[str, str]:
    """The container's global tags; :class:`MetadataError` when ffmpeg cannot read the file.

    The file is untrusted, so ffmpeg is held to it: the demuxer that its magic bytes named
    (no probing into playlists or other formats that fetch more), and the ``file``
    protocol only (a name with a colon is never taken for a protocol, nothing else is read).
    """
    command = [ffmpeg_exe(str(path)), "-nostdin", "-hide_banner", "-v", "error",
               "-protocol_whitelist", "file", "-f", DEMUXERS[container], "-i", f"file:{Path(path).resolve()}",
               "-f", "ffmetadata", "-"]
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        except OSError as err:
            raise ToolError(f"reading a workflow from a video needs ffmpeg, and {command[0]} cannot be run "
                            f"({err.strerror or err}); install imageio-ffmpeg again, or set IMAGEIO_FFMPEG_EXE "
                            "to an ffmpeg binary", str(path)) from None
        chunks: list[bytes] = []
        reader = threading.Thread(target=_read_bounded, args=(proc.stdout, chunks), daemon=True)
        reader.start()
        reader.join(TIMEOUT_S)
        timed_out = reader.is_alive()
        over = sum(map(len, chunks)) > MAX_METADATA_BYTES
        if timed_out or over:
            proc.kill()
        code = proc.wait()
        reader.join()
        assert proc.stdout is not None
        proc.stdout.close()
        errors.seek(0)
        said = errors.read(4096).decode("utf-8", "replace").strip()
    if timed_out:
        raise MetadataError(f"ffmpeg did not finish reading its metadata within {TIMEOUT_S:.0f} s")
    if over:
        raise MetadataError(f"its metadata is over {MAX_METADATA_BYTES // 2**20} MiB, beyond wfrun's limit "
                            "for a workflow; it was not read")
    if code != 0:
        last = said.splitlines()[-1] if said else f"exit status {code}"
        raise MetadataError(f"ffmpeg cannot read it ({last})")
    return parse_ffmetadata(b"".join(chunks).decode("utf-8", "replace"))


def _read_bounded(stream, chunks: list[bytes]) -> None:
    total = 0
    while total <= MAX_METADATA_BYTES:
        chunk = stream.read(1 << 16)
        if not chunk:
            return
        chunks.append(chunk)
        total += len(chunk)


# The key alternates single characters (it must end at "=", and a line may lack one: each
# failure then costs one pass); the value needs no end, so runs are safe and fast there.
_ENTRY = re.compile(r"((?:[^\\=\n]|\\.)*)=((?:[^\\\n]+|\\.)*)", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def parse_ffmetadata(text: str) -> dict[str, str]:
    """The global ``key=value`` tags of an ``;FFMETADATA1`` document, unescaped."""
    tags: dict[str, str] = {}
    position = text.find("\n") + 1 if text.startswith(";FFMETADATA") else 0
    while position < len(text):
        if text[position] == "[":
            break  # a [STREAM] or [CHAPTER] section: the global tags are over
        if text[position] in ";#\n":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end + 1
            continue
        match = _ENTRY.match(text, position)
        if match is None or match.end() == position:  # a line without "=": skip it
            end = text.find("\n", position)
            position = len(text) if end < 0 else end + 1
            continue
        tags[_ESCAPE.sub(r"\1", match.group(1))] = _ESCAPE.sub(r"\1", match.group(2))
        position = match.end() + 1  # the newline (or past the end)
    return tags


def video_candidates(tags: dict[str, str], label: str) -> list[Candidate]:
    """Entries from the tags: ``workflow``/``prompt`` tags first, then VHS's ``comment``."""
    found = []
    for name, value in tags.items():
        key = key_of(name)
        if key is not None:
            found.append(Candidate(key, f"{label} metadata tag '{name}'", text=value))
    for name, value in tags.items():
        if name.lower() == "comment":
            found += from_json_comment(value, f"{label} 'comment' tag (VideoHelperSuite's Video Combine)")
    return found
