"""ComfyUI's RegexExtract ("Extract Text"), RegexMatch and RegexReplace
(``comfy_extras/nodes_string.py`` at the revision of our comfy-core specs). The Wan Dancer
template picks one line of a list with RegexExtract.

RegexMatch: whether the pattern is found anywhere (``re.search``); a pattern ``re`` cannot
compile gives False, as ComfyUI catches ``re.error``. RegexReplace: ``re.sub`` with the
replacement template (``\\1``, ``\\g<name>``) and ``count`` (0: all); ComfyUI does not catch
a bad pattern or template there, so wfrun refuses them by name.

Modes, as in ComfyUI (results joined with newlines): ``First Match`` the whole first match;
``All Matches`` every match (a pattern with groups gives each match's first group, as
``re.findall`` does); ``First Group`` group ``group_index`` of the first match, if the
pattern has that many groups; ``All Groups`` that group of every match that has it. No
match gives an empty string, and so does a pattern Python's ``re`` cannot compile (ComfyUI
catches ``re.error``). Flags: ``case_insensitive``, ``multiline``, ``dotall``.

A workflow is untrusted input, and a regex can backtrack for longer than any run lasts
(``(a+)+$`` on forty ``a``\\ s and a ``b``). Python's ``re`` has no time limit, so:

* the pattern is compiled by ``re`` (it accepts and refuses exactly what ComfyUI's node
  does), but matched by the ``regex`` package in its ``re``-compatible mode (VERSION0, the
  same results for the patterns ``re`` accepts), which can give up after
  :data:`REGEX_SECONDS`; a search that runs out of time stops the run with an error on
  ``regex_pattern`` — where ComfyUI would hang;
* patterns longer than :data:`MAX_PATTERN` and texts longer than :data:`MAX_TEXT`
  characters are refused by name before anything is compiled.

Differences from ComfyUI: the two refusals above; and a group that took no part in the
match (``(a)|(b)`` asked for group 1 on ``b``) gives an empty string here, where ComfyUI
passes ``None`` on (First Group) or fails joining it (All Groups).
"""

from __future__ import annotations

import re
from typing import Any

import regex

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.values import text as _text
from wfrun.packs.comfy_core.values import choice_input, int_input

MODES = ("First Match", "All Matches", "First Group", "All Groups")
MAX_PATTERN = 10_000
MAX_TEXT = 1_000_000
#: How long one node's matching may take (the ``regex`` package's ``timeout``).
REGEX_SECONDS = 2.0


def _matches(pattern: Any, string: str, first: bool) -> list:
    """The first match (a list of at most one) or all of them, within the time limit."""
    try:
        if first:
            found = pattern.search(string, timeout=REGEX_SECONDS)
            return [found] if found is not None else []
        return list(pattern.finditer(string, timeout=REGEX_SECONDS))
    except TimeoutError:
        raise _timed_out() from None


def _compiled(source: str, case_insensitive: bool, multiline: bool, dotall: bool) -> Any:
    """The pattern for the ``regex`` package's time-limited matching, or None where Python's
    ``re`` (what ComfyUI compiles with) refuses it."""
    chosen = (case_insensitive, multiline, dotall)
    re_flags = sum(flag for flag, on in zip((re.IGNORECASE, re.MULTILINE, re.DOTALL), chosen) if on)
    rx_flags = sum(flag for flag, on in zip((regex.IGNORECASE, regex.MULTILINE, regex.DOTALL), chosen) if on)
    try:
        re.compile(source, re_flags)
    except (re.error, RecursionError, OverflowError):
        return None
    try:
        return regex.compile(source, rx_flags | regex.VERSION0)
    except (regex.error, RecursionError, OverflowError):  # accepted by re, not by regex: nothing safe to run
        raise NodeInputError("regex_pattern", f"wfrun cannot run the pattern {source[:80]!r} under a time limit",
                             "rewrite it without the construct the regex package rejects") from None


def _timed_out() -> NodeInputError:
    return NodeInputError("regex_pattern", f"the pattern ran for more than {REGEX_SECONDS} s without finishing "
                          "(it backtracks without end on this text)",
                          "simplify the pattern: nested repeats like (a+)+ backtrack exponentially")


@executor("RegexMatch")
def regex_match(ctx: ExecContext, string: Any, regex_pattern: Any, case_insensitive: Any, multiline: Any,
                dotall: Any, **_: Any) -> tuple:
    string = _text(string, "string", MAX_TEXT)
    pattern = _compiled(_text(regex_pattern, "regex_pattern", MAX_PATTERN), bool(case_insensitive),
                        bool(multiline), bool(dotall))
    return (pattern is not None and bool(_matches(pattern, string, first=True)),)


@executor("RegexReplace")
def regex_replace(ctx: ExecContext, string: Any, regex_pattern: Any, replace: Any, case_insensitive: Any,
                  multiline: Any, dotall: Any, count: Any, **_: Any) -> tuple:
    string = _text(string, "string", MAX_TEXT)
    source = _text(regex_pattern, "regex_pattern", MAX_PATTERN)
    template = _text(replace, "replace", MAX_PATTERN)
    count = int_input(count, "count", 0, 100)
    pattern = _compiled(source, bool(case_insensitive), bool(multiline), bool(dotall))
    if pattern is None:
        raise NodeInputError("regex_pattern", f"{source[:80]!r} is not a regular expression Python accepts",
                             "fix the pattern (ComfyUI stops with an error here too)")
    length = len(string)

    def expand(match: Any) -> str:
        """The template for one match, the result's length kept within MAX_TEXT as it grows
        (a short text with many matches and a long template could otherwise fill memory)."""
        nonlocal length
        piece = match.expand(template)
        length += len(piece) - (match.end() - match.start())
        if length > MAX_TEXT:
            raise OverflowError
        return piece

    try:
        result = pattern.sub(expand, string, count=count, timeout=REGEX_SECONDS)
    except TimeoutError:
        raise _timed_out() from None
    except OverflowError:
        raise NodeInputError("replace", f"the result would have more than {MAX_TEXT:,} characters",
                             "replace fewer matches (count) or with a shorter text") from None
    except (regex.error, IndexError) as err:
        raise NodeInputError("replace", f"the replacement {template[:80]!r} cannot be used: {err}",
                             "refer only to groups the pattern has (\\1, \\g<name>)") from None
    return (result,)


@executor("RegexExtract")
def regex_extract(ctx: ExecContext, string: Any, regex_pattern: Any, mode: Any, case_insensitive: Any,
                  multiline: Any, dotall: Any, group_index: Any, **_: Any) -> tuple:
    string = _text(string, "string", MAX_TEXT)
    source = _text(regex_pattern, "regex_pattern", MAX_PATTERN)
    mode = choice_input(mode, "mode", MODES)
    group = int_input(group_index, "group_index", 0, 100)
    pattern = _compiled(source, bool(case_insensitive), bool(multiline), bool(dotall))
    if pattern is None:
        return ("",)
    found = _matches(pattern, string, first=mode in ("First Match", "First Group"))
    if mode == "First Match":
        return (found[0].group(0) if found else "",)
    if mode == "All Matches":
        # re.findall: the whole match without groups, else the first group
        return ("\n".join((m.group(1) if pattern.groups else m.group(0)) or "" for m in found),)
    picked = [m.group(group) or "" for m in found if len(m.groups()) >= group and (m.groups() or mode == "First Group")]
    if mode == "First Group":
        return (picked[0] if picked else "",)
    return ("\n".join(picked),)
