"""The dual looper's plan: its prompt lines, and how many frames each segment makes and keeps.

The pack's rule (``dual_looper.py`` at 0e75cd4, 2025-09-26, the newest; the fork's later
commits change only the single looper), worked out before anything runs so that a setting
the pack would loop on forever is refused instead:

- each prompt line is five seconds: ``fps`` 16 aims at ``80·n + 1`` frames, 25 at
  ``125·n + 4`` (n lines, at least one);
- segments repeat while fewer than ``target - 4`` frames are kept; each asks for
  ``min(window, target - kept + 1)`` frames, the window being 81 frames at 16 fps and 129
  at 25; the latent has ``(length - 1) // 4 + 1`` frames, the VAE decodes ``4·(T - 1) + 1``
  of them per batch item (the items one after another);
- every segment after the first drops its first ``max(overlap, 1)`` frames; the next one
  starts from the ``max(overlap, 1)``-th frame from the end of this one's decoded frames;
- segment ``i`` takes prompt line ``i`` (the last line once they run out).

A segment that would keep no frame while the target is not met would repeat forever in the
pack (it never ends); :func:`plan_segments` raises :class:`ScheduleError` for it.

Differences: the version the example workflows were first committed with (e4ad5ae,
2025-09-23) aimed at ``125·n + 1`` frames at 25 fps and looped until the whole target was
kept. At 16 fps with one or two batch items it makes the same segments as this rule
wherever it ends (it never ends where an overlap of 2 or more lands 1 to 4 frames short);
at 25 fps, and with three or more batch items, its segments differ, and at 25 fps it often
never ended: the bug the pack fixed the next day (daf27f6). wfrun follows the newest rule;
the saved files carry no pack version to tell the two apart (the set's files use 16 fps,
one batch item, overlap 1, where both agree).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Each prompt line stands for this many seconds of video.
SECONDS_PER_LINE = 5
#: More segments than this is refused (each is a full sampling pass).
MAX_SEGMENTS = 1000


class ScheduleError(ValueError):
    """A setting the pack cannot finish with; ``input_name`` names the input to change."""

    def __init__(self, input_name: str, message: str, hint: str):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


@dataclass(frozen=True)
class Project:
    """What the looper reads of ``project_data``."""

    project_id: str
    prompt_lines: tuple[str, ...]
    start_prompt: int


@dataclass(frozen=True)
class Segment:
    """One pass of the loop: prompt line ``index``, ``length`` frames asked for, the latent's
    frame count, the frames the VAE gives back (all batch items) and how many of them are dropped."""

    index: int
    prompt: str
    length: int
    latent_frames: int
    decoded: int
    dropped: int

    @property
    def kept(self) -> int:
        return self.decoded - self.dropped


def read_project(value: Any) -> Project:
    """``project_data`` as the looper reads it: a dict, or text holding a JSON object; text
    that is not JSON is one prompt. Raises ValueError for a JSON value that is not an object
    (the pack fails on it)."""
    data: Any = value or {}
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = {"prompt": data}
    if not isinstance(data, dict):
        raise ValueError(f"project_data holds {type(data).__name__}, not a project object")
    project_id = str(data.get("id", "default")).strip() or "default"
    lines: list[str] = []
    if isinstance(data.get("prompt_lines"), list):
        lines = [str(x).strip() for x in data["prompt_lines"] if str(x).strip()]
    elif isinstance(data.get("prompt"), str):
        lines = [line.strip() for line in data["prompt"].splitlines() if line.strip()]
    try:
        start = int(data.get("start_prompt", 0))
    except (TypeError, ValueError, OverflowError):
        start = 0
    return Project(project_id, tuple(lines) or ("",), start)


def window_size(fps: int) -> int:
    return 81 if fps == 16 else 129


def target_frames(fps: int, lines: int) -> int:
    seconds = max(1, lines * SECONDS_PER_LINE)
    return seconds * fps + (1 if fps == 16 else 4)


def decoded_frames(length: int, batch_size: int) -> int:
    latent = (length - 1) // 4 + 1
    return batch_size * (4 * (latent - 1) + 1)


def plan_segments(lines: tuple[str, ...], fps: int, overlap: int, batch_size: int) -> list[Segment]:
    """The segments the pack runs for a project started from its first prompt (see the module docs)."""
    window = max(2, window_size(fps))
    target = target_frames(fps, len(lines))
    drop = max(1, overlap)
    kept, segments = 0, []
    while kept < target - 4:
        index = len(segments)
        if index >= MAX_SEGMENTS:
            raise ScheduleError("project_data", f"more than {MAX_SEGMENTS} segments", "use fewer prompt lines")
        length = min(window, target - kept + 1)
        decoded = decoded_frames(length, batch_size)
        dropped = min(drop, decoded) if index > 0 else 0
        if decoded - dropped == 0:
            raise ScheduleError(
                "overlap", f"segment {index + 1} would make {decoded} frame(s) and drop them all "
                f"(overlap {overlap}) while {target - kept} of the {target} frames are still to come: the pack "
                "repeats that segment forever", "use a smaller overlap")
        segments.append(Segment(index, lines[min(index, len(lines) - 1)], length, (length - 1) // 4 + 1,
                                decoded, dropped))
        kept += decoded - dropped
    return segments
