"""``CreaPrompt List`` ("CreaPrompt Multi Prompts", ``creaprompt.py``): one prompt per line.

What the pack does, by signature (read from its history; the version public workflows carry
is 1.6.0, of 2025-06-04):

- 2024-07-07 to 2026-07 (``Multi_prompts``, ``prefix``, ``suffix``; outputs ``prompt`` and
  ``prompt_debug``): ``Multi_prompts`` is stripped of surrounding whitespace (from
  2025-06-04; wfrun always strips, as 1.6.0 does) and split on ``"\\n"``. Each line becomes
  ``prefix + "," + line + "," + suffix``, with the part of an empty ``prefix`` or ``suffix``
  left out (no comma either), or the line alone when both are empty. ``prompt`` is that
  list. ``prompt_debug`` is the same prompts, each after ``"➡️"``, joined by newlines into
  one string; but the pack declares both outputs lists (``OUTPUT_IS_LIST = (True, True,
  False)``) and ComfyUI extends a list output with what the function returns, so the
  string reaches the nodes linked there one character at a time. wfrun gives that same
  list of characters.
- 2026-07-05 on (``seed_base`` added, a linked INT; outputs ``prompt``, ``seed``,
  ``prompt_debug``): the same prompts, ``seed`` the list ``seed_base + i`` for each prompt,
  and ``prompt_debug`` one plain string.
- 2024-07-06 (one output, ``prompt``): the pack changed what a line becomes twice in two
  days under that signature (``prefix + line + suffix``, then ``prefix + "," + line +
  suffix``), so a save of then cannot be told apart; wfrun refuses it.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The date of the signature with the single ``prompt`` output.
FIRST_SIGNATURE = "2024-07-06"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}", "connect a STRING")
    return value


def prompts(multi_prompts: str, prefix: str, suffix: str) -> list[str]:
    """The pack's prompt list (1.6.0 on)."""
    lines = multi_prompts.strip().split("\n")
    head = prefix + "," if prefix != "" else ""
    tail = "," + suffix if suffix != "" else ""
    return [head + line + tail for line in lines]


@executor("CreaPrompt List")
def crea_prompt_list(ctx: ExecContext, Multi_prompts: Any, prefix: Any, suffix: Any, seed_base: Any = None,
                     **_: Any) -> tuple:
    if ctx.saved_date is not None and str(ctx.saved_date) <= FIRST_SIGNATURE:
        raise NodeInputError("Multi_prompts", "this CreaPrompt List was saved with the pack of 2024-07-06, whose "
                             "way of joining prefix, line and suffix changed within that signature",
                             "re-create the node with a current CreaPrompt (the pack's 1.6.0 or later)")
    out = prompts(_text(Multi_prompts, "Multi_prompts"), _text(prefix, "prefix"), _text(suffix, "suffix"))
    debug = "\n".join("➡️" + prompt for prompt in out)
    if seed_base is None:  # 2024-07-07 to 2026-07: prompt_debug is a list output fed a string
        return (out, list(debug))
    if isinstance(seed_base, bool) or not isinstance(seed_base, int):
        raise NodeInputError("seed_base", f"seed_base: expected an INT, found {seed_base!r}", "connect an INT")
    return (out, [seed_base + i for i in range(len(out))], debug)
