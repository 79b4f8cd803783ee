"""StringFunction|pysssss (``py/string_function.py``).

* append: ``text_a``, ``text_b``, ``text_c`` joined, leaving out empty ones, with ", " when
  ``tidy_tags`` is "yes" and nothing between them otherwise;
* replace: in ``text_a``, ``text_b`` replaced by ``text_c``; a ``text_b`` written ``/…/`` is a
  regular expression (Python's ``re``, as in the pack; ``text_c`` may use ``\\1`` groups);
* with ``tidy_tags`` "yes" the result then has runs of whitespace made one space, " ," made
  ",", runs of commas made one, and the ends stripped.
"""

from __future__ import annotations

import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return value


@executor("StringFunction|pysssss")
def string_function(ctx: ExecContext, action: Any, tidy_tags: Any, text_a: Any = "", text_b: Any = "",
                    text_c: Any = "", **_: Any) -> tuple:
    if action not in ("append", "replace"):
        raise NodeInputError("action", f"action: {action!r} is not 'append' or 'replace'")
    if tidy_tags not in ("yes", "no"):
        raise NodeInputError("tidy_tags", f"tidy_tags: {tidy_tags!r} is not 'yes' or 'no'")
    tidy = tidy_tags == "yes"
    a, b, c = _text(text_a, "text_a"), _text(text_b, "text_b"), _text(text_c, "text_c")
    if action == "append":
        out = (", " if tidy else "").join(t for t in (a, b, c) if t)
    elif b.startswith("/") and b.endswith("/"):
        try:
            out = re.sub(b[1:-1], c, a)
        except re.error as err:
            raise NodeInputError("text_b", f"text_b: {b!r} is not a valid regular expression ({err})") from None
    else:
        out = a.replace(b, c)
    if tidy:
        out = re.sub(r"\s{2,}", " ", out)
        out = out.replace(" ,", ",")
        out = re.sub(r",{2,}", ",", out)
        out = out.strip()
    return (out,)
