"""WAS Node Suite's Text Find and Replace (``WAS_Search_and_Replace``): every match of
``find`` in ``text`` replaced by ``replace`` with Python's ``re.subn``, as the pack does — so
``find`` is a regular expression and ``replace`` may use ``\\1`` groups — and the count of
replacements as NUMBER, FLOAT and INT. Bounds the pack lacks (workflows are untrusted): a
pattern of at most 1,000 characters on a text of at most 1,000,000."""

from __future__ import annotations

import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_PATTERN = 1000
MAX_TEXT = 1_000_000


@executor("Text Find and Replace")
def text_find_and_replace(ctx: ExecContext, text: Any, find: Any, replace: Any, **_: Any) -> tuple:
    for name, value in (("text", text), ("find", find), ("replace", replace)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    if len(find) > MAX_PATTERN or len(text) > MAX_TEXT:
        raise NodeInputError("find" if len(find) > MAX_PATTERN else "text", "too long for wfrun's bounds",
                             f"at most {MAX_PATTERN} characters to find in {MAX_TEXT} characters of text")
    try:
        result, count = re.subn(find, replace, text)
    except re.error as err:
        raise NodeInputError("find", f"{find!r} is not a regular expression the pack accepts ({err})",
                             "escape special characters such as ( [ * + ? with a backslash") from None
    return (result, count, float(count), int(count))
