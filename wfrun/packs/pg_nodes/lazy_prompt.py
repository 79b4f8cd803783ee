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
    """The pack's ``expand_choices`` for texts whose every group has one part."""

    def group(i: int) -> tuple[str, int]:
        i += 1
        parts: list[str] = []
        cur: list[str] = []
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                i += 1
                if i < len(text):
                    cur.append(text[i])
                    i += 1
                continue
            if ch == "{":
                sub, i = group(i)
                cur.append(sub)
                continue
            if ch == "|":
                parts.append("".join(cur))
                cur = []
                i += 1
                continue
            if ch == "}":
                parts.append("".join(cur))
                if len(parts) > 1:
                    raise _Choice("|".join(parts))
                return parts[0], i + 1
            cur.append(ch)
            i += 1
        return "{" + "".join(cur), i  # an unclosed group stays as written, as in the pack

    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 1
            if i < len(text):
                out.append(text[i])
                i += 1
            continue
        if ch == "{":
            sub, i = group(i)
            out.append(sub)
            continue
        out.append(ch)
        i += 1
    return "".join(out)


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
