"""ComfyUI's string nodes (``comfy_extras/nodes_string.py``): concatenate, substring, length,
case, trim, replace, contains, compare — Python's own string operations, as there. Sizes are
bounded: a result longer than :data:`MAX_CHARS` is an error rather than a memory sink (a
workflow is untrusted input; a prompt is never that long)."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MAX_CHARS = 1_000_000


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return value


def _bounded(result: str, name: str) -> str:
    if len(result) > MAX_CHARS:
        raise NodeInputError(name, f"the result would have {len(result)} characters (at most {MAX_CHARS})")
    return result


@executor("StringConcatenate")
def string_concatenate(ctx: ExecContext, string_a: Any, string_b: Any, delimiter: Any, **_: Any) -> tuple:
    return (_bounded(_text(delimiter, "delimiter").join((_text(string_a, "string_a"), _text(string_b, "string_b"))),
                     "string_b"),)


@executor("StringSubstring")
def string_substring(ctx: ExecContext, string: Any, start: Any, end: Any, **_: Any) -> tuple:
    return (_text(string, "string")[int(start):int(end)],)


@executor("StringLength")
def string_length(ctx: ExecContext, string: Any, **_: Any) -> tuple:
    return (len(_text(string, "string")),)


CASES = {"UPPERCASE": str.upper, "lowercase": str.lower, "Capitalize": str.capitalize, "Title Case": str.title}
TRIMS = {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}


@executor("CaseConverter")
def case_converter(ctx: ExecContext, string: Any, mode: Any, **_: Any) -> tuple:
    string = _text(string, "string")
    return (CASES[mode](string) if mode in CASES else string,)


@executor("StringTrim")
def string_trim(ctx: ExecContext, string: Any, mode: Any, **_: Any) -> tuple:
    string = _text(string, "string")
    return (TRIMS[mode](string) if mode in TRIMS else string,)


@executor("StringReplace")
def string_replace(ctx: ExecContext, string: Any, find: Any, replace: Any, **_: Any) -> tuple:
    string, find, replace = _text(string, "string"), _text(find, "find"), _text(replace, "replace")
    if len(replace) > len(find) and string.count(find) * (len(replace) - len(find)) + len(string) > MAX_CHARS:
        raise NodeInputError("replace", f"the result would have more than {MAX_CHARS} characters")
    return (string.replace(find, replace),)


@executor("StringContains")
def string_contains(ctx: ExecContext, string: Any, substring: Any, case_sensitive: Any, **_: Any) -> tuple:
    string, substring = _text(string, "string"), _text(substring, "substring")
    if not case_sensitive:
        string, substring = string.lower(), substring.lower()
    return (substring in string,)


@executor("StringCompare")
def string_compare(ctx: ExecContext, string_a: Any, string_b: Any, mode: Any, case_sensitive: Any,
                   **_: Any) -> tuple:
    a, b = _text(string_a, "string_a"), _text(string_b, "string_b")
    if not case_sensitive:
        a, b = a.lower(), b.lower()
    if mode == "Equal":
        return (a == b,)
    if mode == "Starts With":
        return (a.startswith(b),)
    if mode == "Ends With":
        return (a.endswith(b),)
    raise NodeInputError("mode", f"unknown mode {mode!r}", "use Starts With, Ends With or Equal")
