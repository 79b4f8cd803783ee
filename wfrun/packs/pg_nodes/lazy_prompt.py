"""PG-Nodes' Lazy Prompt (mini) (``PgLazyPromptMini`` in ``PG_Lazy_Prompt.py``; its encoding
is unchanged from 2025-09-24 to the newest stored commit, 2025-10-10).

The pack strips both texts, expands ``{a|b|c}`` choice groups in the positive one (``\\``
escapes the next character; a group picks one of its parts, nested groups first) and encodes
each text with ComfyUI's CLIPTextEncode. Its choices are drawn from a generator seeded with the
wall clock at each run, so a positive text with a group of two or more parts has no
reproducible result: wfrun refuses it naming ``positive``. Groups of one part and escapes are
expanded as the pack does. The saves of 2025-09-24 also give ``raw`` (the positive text, then
``"\\n---\\n"`` and the negative one if there is one, stripped); later saves give the two
conditionings only. The pack's prompt history file is not written: it is the pack's UI state,
not an output.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

#: The first commit whose Lazy Prompt (mini) has no ``raw`` output.
WITHOUT_RAW = "2025-09-25"


class _Choice(ValueError):
    """A group with several parts: the pack picks one at random."""


def expand(text: str) -> str:
    """The pack's ``expand_choices`` for texts whose every group has one part. One pass with a
    stack of open groups (each: its finished parts, the part being read), not the pack's
    recursion, so a text of thousands of ``{`` cannot exhaust Python's stack."""
    groups: list[tuple[list[str], list[str]]] = [([], [])]  # the text itself at the bottom
    i = 0
    while i < len(text):
        ch = text[i]
        parts, cur = groups[-1]
        if ch == "\\":  # the next character as it is; a trailing backslash is dropped
            cur.extend(text[i + 1:i + 2])
            i += 2
            continue
        i += 1
        if ch == "{":
            groups.append(([], []))
        elif ch == "|" and len(groups) > 1:
            parts.append("".join(cur))
            cur.clear()
        elif ch == "}" and len(groups) > 1:
            groups.pop()
            parts.append("".join(cur))
            if len(parts) > 1:
                raise _Choice("|".join(parts))
            groups[-1][1].append(parts[0])
        else:
            cur.append(ch)
    while len(groups) > 1:  # an unclosed group stays as written from its last part, as in the pack
        _, cur = groups.pop()
        groups[-1][1].append("{" + "".join(cur))
    return "".join(groups[0][1])


@executor("PgLazyPromptMini")
def lazy_prompt_mini(ctx: ExecContext, clip: Any, positive: Any, negative: Any, **_: Any) -> tuple:
    for name, value in (("positive", positive), ("negative", negative)):
        if value is not None and not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    pos_text = (positive or "").strip()
    neg_text = (negative or "").strip()
    try:
        pos_text = expand(pos_text)
    except _Choice as choice:
        raise NodeInputError("positive", f"positive has the choice group {{{choice}}}: the pack picks one part "
                             "with a clock-seeded random generator at each run, which wfrun cannot reproduce",
                             "write the chosen text in place of the group") from None
    encode = builtin_executor("CLIPTextEncode", "clip")  # core's, through the registry
    pos = encode(ctx, text=pos_text, clip=clip)[0]
    neg = encode(ctx, text=neg_text, clip=clip)[0]
    if ctx.saved_date is not None and ctx.saved_date < WITHOUT_RAW:
        raw = (pos_text + ("\n---\n" + neg_text if neg_text else "")).strip()
        return pos, neg, raw
    return pos, neg
