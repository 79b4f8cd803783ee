"""WanVACEBatchContext: which two clips step ``index`` of a batch join joins, and where its
work files go. ComfyUI hands it every input as a list (``INPUT_IS_LIST``): ``input_list`` is
the clip names (e.g. from LoadVideosFromFolderSimple's folder or a list node), the widgets
are one-element lists.

- ``work_dir`` is ``<project_name>/vace-work`` (``vace-work`` for an empty name since
  2026-02-15; the first version always put the project name, default ".", in front);
  ``workfile_prefix`` is ``<work_dir>/index<NNN>``.
- The clip names are joined to ``input_dir`` (``<input_dir>/<name>`` in the first version,
  a path join that leaves an empty ``input_dir`` out since 2026-02-15). They are only
  strings here; the loader that opens them keeps to wfrun's folders.
- ``make_loop`` (since 2026-03-27) adds a step from the last clip back to the first; then no
  step is first or last, and ``assemble_video`` is true on the step that closes the loop
  (without it, on the last step). The versions before it have no ``assemble_video`` output.
"""

from __future__ import annotations

import posixpath
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

FIRST_VERSION = "2026-02-06"
ASSEMBLE_SINCE = "2026-03-27"


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


@executor("WanVACEBatchContext")
def wan_vace_batch_context(ctx: ExecContext, input_list: Any, input_dir: Any, project_name: Any, index: Any,
                           debug: Any, make_loop: Any, **_: Any) -> tuple:
    names = input_list if isinstance(input_list, list) else [input_list]
    if not all(isinstance(n, str) for n in names):
        raise NodeInputError("input_list", "expected a list of file names (STRING)", "connect a list of clip names")
    first_version = ctx.saved_date is not None and ctx.saved_date <= FIRST_VERSION
    loop = bool(_one(make_loop))
    directory, index = str(_one(input_dir) or ""), int(_one(index))
    project = str(_one(project_name) or "")
    count = len(names)
    if count < 2:
        raise NodeInputError("input_list", f"need at least 2 videos to make transitions, found {count}")
    last_index = count - 1 if loop else count - 2
    if not 0 <= index <= last_index:
        raise NodeInputError("index", f"index {index} is out of range (0-{last_index} for {count} videos)")
    if first_version:
        work_dir = f"{project}/vace-work"
    else:
        project = project.strip()
        work_dir = f"{project}/vace-work" if project else "vace-work"
    prefix = f"{work_dir}/index{index:03d}"
    first, second = (names[-1], names[0]) if loop and index == count - 1 else (names[index], names[index + 1])
    if first_version:
        first, second = f"{directory}/{first}", f"{directory}/{second}"
    elif directory:
        first, second = posixpath.join(directory, first), posixpath.join(directory, second)
    is_first, is_last = (False, False) if loop else (index == 0, index == last_index)
    out = (work_dir, prefix, first, second, is_first, is_last)
    if ctx.saved_date is not None and ctx.saved_date < ASSEMBLE_SINCE:
        return out
    return (*out, (not loop and index == count - 2) or (loop and index == count - 1))
