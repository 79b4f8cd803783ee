"""Comfyroll's ``CR Prompt Text`` (``nodes/nodes_core.py``) and ``CR Prompt List``
(``nodes/nodes_list.py``), as at d78b780 (2024-01-24, the version saved workflows carry).

``CR Prompt Text`` gives its ``prompt`` unchanged, and from 2023-12-01 a second output
``show_help`` with the pack's wiki URL.

``CR Prompt List`` (the signature of 2024-01-01 on; the name was reused then, the older node
of that name was an animation prompt stacker giving ``PROMPT_LIST``, which wfrun refuses)
splits ``multiline_text`` on ``"\\n"`` (not on other line ends: a ``"\\r"`` stays in the
line), clamps ``start_index`` to ``0 … len(lines) - 1``, keeps at most ``max_rows`` lines from
there, and gives two lists (``OUTPUT_IS_LIST``): ``prompt``, each line between
``prepend_text`` and ``append_text`` (joined with nothing in between), and ``body_text``,
the lines themselves; ``show_help`` is one string (the wiki URL of d78b780; saves from
before 2024-01-15 pointed it at another wiki page). An empty selection (``max_rows`` 0
through a link) is an empty list, which wfrun refuses where a node reads it (see
``wfrun.engine.lists``).
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

PROMPT_TEXT_HELP = "https://github.com/Suzie1/ComfyUI_Comfyroll_CustomNodes/wiki/Core-Nodes#cr-prompt-text"
PROMPT_LIST_HELP = "https://github.com/Suzie1/ComfyUI_Comfyroll_CustomNodes/wiki/List-Nodes#cr-prompt-list"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}", "connect a STRING")
    return value


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}", "connect an INT")
    return value


@executor("CR Prompt Text")
def prompt_text(ctx: ExecContext, prompt: Any, **_: Any) -> tuple:
    return (_text(prompt, "prompt"), PROMPT_TEXT_HELP)


def prompt_rows(multiline_text: str, prepend_text: str, append_text: str, start_index: int,
                max_rows: int) -> tuple[list[str], list[str]]:
    """The pack's ``make_list`` without its help output: (prompts, body lines)."""
    lines = multiline_text.split("\n")
    start = max(0, min(start_index, len(lines) - 1))
    end = min(start + max_rows, len(lines))
    rows = lines[start:end]
    return [prepend_text + line + append_text for line in rows], rows


@executor("CR Prompt List")
def prompt_list(ctx: ExecContext, **inputs: Any) -> tuple:
    if "multiline_text" not in inputs:
        raise NodeInputError("prompt_1" if "prompt_1" in inputs else "multiline_text",
                             "this is the CR Prompt List of before 2024-01-01 (an animation prompt stacker giving "
                             "PROMPT_LIST), which wfrun does not run",
                             "replace it with the current CR Prompt List (multiline_text, one prompt a line)")
    prompts, rows = prompt_rows(
        _text(inputs["multiline_text"], "multiline_text"), _text(inputs.get("prepend_text"), "prepend_text"),
        _text(inputs.get("append_text"), "append_text"), _whole(inputs.get("start_index"), "start_index"),
        _whole(inputs.get("max_rows"), "max_rows"))
    return (prompts, rows, PROMPT_LIST_HELP)
