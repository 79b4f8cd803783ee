"""VantageProject ("Vantage Project Loader") and the reading of its ``project_data``.

What the pack's node does (``vantage_project.py``, 2025-09-23 to 2025-09-26; the inputs
never changed): it turns ``positive_text`` into prompt lines (split at line breaks, each
stripped, blank lines dropped) and returns them as one JSON string with the project's
``id`` (a fresh ``uuid4`` hex unless ``existing_project`` is on: then ``project_id``, or
the id in the selected project file, or a fresh one), ``name`` (``project_name`` or
``project_<first 8 hex of the id>``), ``prompt`` (the lines joined by ``\\n``),
``prompt_lines``, ``existing`` (always true), ``file`` (the project file's name),
``start_prompt`` and ``ts`` (the time). It also writes that JSON into ComfyUI's
``vantage/`` folder and makes the folder ``vantage/<id>/``, where the looper keeps each
segment's frames between runs.

wfrun keeps no such folder: it writes no project file and behaves as the pack does in a
ComfyUI whose ``vantage/`` folder is empty (no project file to take an id from, no frames
from earlier runs). The one request that depends on those earlier runs, resuming a saved
project from a later prompt (``existing_project`` with ``start_prompt`` > 0), is refused.
The file name is the pack's first choice (``project_name`` cleaned to letters, digits and
``._-``); the pack adds ``_1``, ``_2``, … when that file already exists.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: More prompt lines than this (each a segment of five seconds of video) is refused.
MAX_PROMPT_LINES = 1000


def prompt_lines_of(text: str) -> list[str]:
    """The project node's lines: split at ``\\r\\n``, ``\\r`` or ``\\n``, stripped, blanks dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


def _safe_name(name: str) -> str:
    return "".join(c for c in name if c.isalnum() or c in "._-")


@executor("VantageProject")
def vantage_project(ctx: ExecContext, project_name: Any, positive_text: Any, start_prompt: Any,
                    project_list: Any, existing_project: Any, project_id: Any, **_: Any) -> tuple:
    for name, value in (("project_name", project_name), ("positive_text", positive_text),
                        ("project_id", project_id)):
        if value is not None and not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected text, found {type(value).__name__}")
    if isinstance(start_prompt, bool) or not isinstance(start_prompt, int):
        raise NodeInputError("start_prompt", f"start_prompt: expected a whole number, found {start_prompt!r}"[:160])
    existing = bool(existing_project)
    if existing and start_prompt > 0:
        raise NodeInputError(
            "start_prompt", f"existing_project is on with start_prompt {start_prompt}: the pack then resumes the "
            "saved project from the frames earlier runs left in ComfyUI's vantage/<project id>/ folder, and wfrun "
            "keeps no such folder", "set start_prompt to 0 to render every prompt from the start image")
    selected = (project_list or "").strip() if isinstance(project_list, str) else ""
    is_file = selected.lower().endswith(".json") and selected != "none"
    pid = ((project_id or "").strip() or uuid.uuid4().hex) if existing else uuid.uuid4().hex
    if is_file and existing:
        target = selected
    else:
        target = _safe_name(project_name or "") or f"project_{pid[:8]}"
        if not target.lower().endswith(".json"):
            target = f"{target}.json"
    lines = prompt_lines_of(positive_text or "")
    if len(lines) > MAX_PROMPT_LINES:
        raise NodeInputError("positive_text", f"{len(lines)} prompt lines; wfrun runs at most {MAX_PROMPT_LINES}",
                             "split the project")
    data = {"id": pid, "name": project_name or f"project_{pid[:8]}", "prompt": "\n".join(lines),
            "prompt_lines": lines, "existing": True, "file": target, "start_prompt": start_prompt,
            "ts": time.time()}
    return (json.dumps(data, ensure_ascii=False),)
