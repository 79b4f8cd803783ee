"""The workflow inside an image or a video: find the entries, choose one, parse it.

The UI workflow is preferred (it keeps positions, groups and notes, and migrates), the API
prompt is the fallback (ComfyUI stores it too, and it runs). An entry that cannot be parsed,
or is not a workflow, is passed over for the next; when none is usable the error lists
what each one was, and a media file with no entry at all says so, with where ComfyUI or
VideoHelperSuite would have put it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from wfrun.formats.candidates import KEYS, Candidate
from wfrun.formats.errors import FormatError, FormatProblem
from wfrun.formats.jsontext import check_shape, parse
from wfrun.formats.kinds import EXPECTED, describe, detect_kind
from wfrun.formats.sniff import LABELS, VIDEO


def read_embedded(fp: BinaryIO, path: Path, container: str) -> tuple[Any, Candidate, list[FormatProblem]]:
    """The chosen workflow's JSON value, the entry it came from, and what was wrong with the
    entries passed over for it (a damaged UI workflow when the API prompt was taken);
    :class:`FormatError` when there is none, with why."""
    source = str(path)
    label = LABELS[container]
    candidates, cut = find_candidates(fp, path, container, label)
    value, chosen, problems = choose(candidates, source)
    if chosen is not None:
        return value, chosen, problems
    if cut and not any(p.code == "bad-media" for p in problems):
        problems.insert(0, FormatProblem("bad-media", f"no workflow could be read from this {label}: {cut}"))
    if problems:
        raise FormatError(source, problems)
    raise FormatError(source, [FormatProblem("no-workflow", _nothing_found(path, container, label))])


def find_candidates(fp: BinaryIO, path: Path, container: str, label: str) -> tuple[list[Candidate], str | None]:
    if container == "png":
        from wfrun.formats.png import png_candidates

        return png_candidates(fp)
    if container == "webp":
        from wfrun.formats.exif import webp_candidates

        return webp_candidates(fp)
    if container in ("jpeg", "gif"):
        from wfrun.formats.exif import pillow_candidates

        return pillow_candidates(fp, container)
    from wfrun.formats.ffmeta import MetadataError, read_tags, video_candidates
    from wfrun.formats.truncation import video_truncation

    cut = video_truncation(fp, container)
    try:
        found = video_candidates(read_tags(path, container), label)
    except MetadataError as err:
        return [], f"{err}" + (f"; {cut}" if cut else "; the file is damaged or truncated")
    return found, cut and f"{cut} (an interrupted download or copy?)"


def choose(candidates: list[Candidate], source: str) -> tuple[Any, Candidate | None, list[FormatProblem]]:
    """The first usable entry, ``workflow`` entries before ``prompt`` ones; else the problems."""
    problems: list[FormatProblem] = []
    for key in KEYS:
        for candidate in (c for c in candidates if c.key == key):
            if candidate.problem is not None:
                problems.append(candidate.problem)
                continue
            what = f"the workflow in the {candidate.origin}"
            try:
                value = _value(candidate, source, what)
            except FormatError as err:
                problems.extend(err.problems)
                continue
            if detect_kind(value) is None:
                problems.append(FormatProblem("unknown-format", f"{what} is not a ComfyUI workflow: {EXPECTED}; "
                                              f"found {describe(value)}"))
                continue
            return value, candidate, problems
    return None, None, problems


def _value(candidate: Candidate, source: str, what: str) -> Any:
    if candidate.text is None:
        check_shape(candidate.value, source, what)
        value = candidate.value
    else:
        value = parse(candidate.text, source, what, positions=False)
    if isinstance(value, str):  # JSON text inside JSON (VideoHelperSuite's prompt; double-saved files)
        value = parse(value, source, what, positions=False)
    return value


def _nothing_found(path: Path, container: str, label: str) -> str:
    head = f"this {label} holds no ComfyUI workflow"
    if container == "png":
        return (f"{head} (no 'workflow' or 'prompt' text chunk): ComfyUI leaves them out when started with "
                "--disable-metadata, and many websites strip them on upload; ask for the original file or the "
                "workflow's JSON")
    if container in ("webp", "jpeg"):
        return (f"{head} (no EXIF text starting 'workflow:' or 'prompt:', where ComfyUI's Save Animated WEBP "
                "puts them)" + _beside_png(path))
    if container == "gif":
        return f"{head} (no comment holding one)" + _beside_png(path)
    assert container in VIDEO
    return (f"{head} (no 'workflow' or 'prompt' tag, and no VideoHelperSuite 'comment' tag holding one): "
            "Video Combine embeds it only when its format has save_metadata on, and video sites strip tags"
            + _beside_png(path))


def _beside_png(path: Path) -> str:
    """VideoHelperSuite saves the first frame with the workflow as ``<name>.png`` beside the video."""
    png = path.with_suffix(".png")
    if png != path and png.is_file():
        return f"; the PNG beside it may hold it (VideoHelperSuite saves one per video): try {png}"
    return "; VideoHelperSuite saves a PNG of the first frame with the workflow beside each video: try that"
