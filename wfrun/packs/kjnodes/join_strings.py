"""KJNodes' string joins (``nodes/nodes.py``).

* JoinStrings: ``string1 + delimiter + string2`` (a missing string is empty, as the pack's
  defaults).
* AppendStringsToList: one Python list of ``string1``'s items then ``string2``'s (a string
  that is not a list counts as a list of itself). The list is one value (the node is not a
  ComfyUI list node), handed whole to the next node, as WanVideoATITracks takes its tracks.
  Nested lists are kept as items, as the pack keeps them.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Items one list may hold (a workflow is untrusted input; track lists hold a handful).
MAX_ITEMS = 100_000


@executor("JoinStrings")
def join_strings(ctx: ExecContext, delimiter: Any, string1: Any = "", string2: Any = "", **_: Any) -> tuple:
    for name, value in (("delimiter", delimiter), ("string1", string1), ("string2", string2)):
        if not isinstance(value, str):
            raise NodeInputError(name, f"{name}: expected a STRING, found {type(value).__name__}")
    return (string1 + delimiter + string2,)


@executor("AppendStringsToList")
def append_strings_to_list(ctx: ExecContext, string1: Any, string2: Any, **_: Any) -> tuple:
    parts = []
    for name, value in (("string1", string1), ("string2", string2)):
        if value is None:
            raise NodeInputError(name, f"{name} is not connected", f"connect a STRING (or a list of them) to '{name}'")
        parts.append(list(value) if isinstance(value, list) else [value])
    if len(parts[0]) + len(parts[1]) > MAX_ITEMS:
        raise NodeInputError("string2", f"the list would hold {len(parts[0]) + len(parts[1]):,} items; "
                             f"wfrun keeps at most {MAX_ITEMS:,}")
    return (parts[0] + parts[1],)
