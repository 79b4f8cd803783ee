"""comfy_mtb's ``Audio Duration (mtb)`` (``nodes/audio.py``) and ``String Replace (mtb)``
(``nodes/graph_utils.py``), read from the pack's history (schemas/nodes/comfy-mtb.json).

Audio Duration: the AUDIO's length in whole milliseconds, ``int(samples / rate * 1000)``
(truncated, as the pack's ``int``), from the waveform's last axis.

String Replace: every occurrence of ``old`` replaced by ``new`` (``str.replace``; an empty
``old`` inserts ``new`` between every character, as Python does); with ``use_regex`` (the
2025-04-01 signature on) ``old`` is a regular expression and ``new`` a replacement template,
as ``re.sub``. A workflow is untrusted input, so the pattern is compiled by ``re`` (it
accepts and refuses what the pack's ``re.sub`` does; a bad pattern is the pack's ValueError,
an error on ``old`` here) and matched by the ``regex`` package in its ``re``-compatible mode
with a time limit, as core's RegexExtract here: a pattern that backtracks past the limit
stops the run naming ``old``, where the pack would hang. Texts and patterns above the sizes
below are refused by name.
"""

from __future__ import annotations

import re
from typing import Any

import regex

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.values import audio as audio_input, text as _text

MAX_TEXT = 1_000_000
MAX_PATTERN = 10_000
REGEX_SECONDS = 2.0


@executor("Audio Duration (mtb)", pure=True)
def audio_duration(ctx: ExecContext, audio: Any, **_: Any) -> tuple:
    waveform, rate = audio_input(audio, "audio")
    return (int((waveform.shape[-1] / rate) * 1000),)


@executor("String Replace (mtb)", pure=True)
def string_replace(ctx: ExecContext, string: Any, old: Any, new: Any, use_regex: Any, **_: Any) -> tuple:
    text = _text(string, "string", MAX_TEXT)
    old_s = _text(old, "old", MAX_PATTERN)
    new_s = _text(new, "new", MAX_PATTERN)
    if not isinstance(use_regex, bool):
        raise NodeInputError("use_regex", f"use_regex: expected a BOOLEAN, found {use_regex!r}")
    if not use_regex:
        if old_s == "" and len(text) * (len(new_s) + 1) > MAX_TEXT * 4:
            raise NodeInputError("old", "an empty old inserts new between every character; the result would be "
                                 "too large", "set old to the text to replace")
        return (text.replace(old_s, new_s),)
    try:
        re.compile(old_s).sub(new_s, "")  # ComfyUI's pack: re.sub; a bad pattern or template is its ValueError
        pattern = regex.compile(old_s, flags=regex.VERSION0)
    except (re.error, regex.error, RecursionError, OverflowError, IndexError) as err:
        raise NodeInputError("old", f"old is not a valid regular expression (or new not a valid replacement "
                             f"for it): {err}", "fix the pattern, or turn use_regex off") from None
    try:
        return (pattern.sub(new_s, text, timeout=REGEX_SECONDS),)
    except TimeoutError:
        raise NodeInputError("old", f"the pattern ran for more than {REGEX_SECONDS} s without finishing "
                             "(it backtracks without end on this text)",
                             "simplify the pattern: nested repeats like (a+)+ backtrack exponentially") from None
    except (regex.error, IndexError) as err:
        raise NodeInputError("new", f"new is not a valid replacement for this pattern: {err}") from None
