"""Easy-Use's ``easy showAnything`` and ``easy promptLine`` against the pack's rules written
out here: texts of the shown values (str for numbers, a list replaces, JSON else) and
``str.split('\\n')`` with the clamped start and row count."""

from __future__ import annotations

import json

import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext

CTX = ExecContext()


def test_show_anything_outputs_the_shown_text():
    show = node("easy showAnything")
    assert show(CTX, anything=[81]) == ("81",)
    assert show(CTX, anything=["a prompt"]) == ("a prompt",)
    assert show(CTX, anything=[1.5, True]) == (["1.5", "True"],)
    assert show(CTX, anything=[{"k": [1, 2]}]) == (json.dumps({"k": [1, 2]}),)
    assert show(CTX, anything=["x", [3, 4]]) == ([3, 4],)  # a list replaces what came before
    assert show(CTX) == ([],)
    t = torch.zeros(2)
    assert show(CTX, anything=[t]) == (str(t),)


def test_prompt_line_splits_and_clamps():
    line = node("easy promptLine")
    text = "one\n\ntwo\nthree\n"
    assert line(CTX, prompt=text) == (["one", "two", "three"],) * 2  # spec: remove_empty_lines on
    assert line(CTX, prompt=text, remove_empty_lines=False)[0] == text.split("\n")
    assert line(CTX, prompt=text, start_index=1, max_rows=1)[0] == ["two"]
    assert line(CTX, prompt=text, start_index=99)[0] == ["three"]  # clamped to the last line
    assert line(CTX, prompt="\n \n")[0] == []


def test_prompt_line_keeps_blank_lines_for_a_file_saved_before_the_option():
    """The engine gives a file saved without ``remove_empty_lines`` the newest default (on);
    the pack of that time kept blank lines."""
    line = node("easy promptLine")
    text = "one\n\ntwo"
    old = ExecContext(saved_date="2025-07-26")
    assert line(old, prompt=text, remove_empty_lines=True)[0] == ["one", "", "two"]
    assert line(ExecContext(saved_date="2025-10-30"), prompt=text, remove_empty_lines=True)[0] == ["one", "two"]
