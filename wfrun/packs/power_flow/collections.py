"""Power Flow's list nodes (``collections.py``): EmptyList gives a new empty list, and
AppendToList a *new* list with the item added, leaving its input untouched (the pack
copies with ``list(...)`` first). That copy matters inside a loop: the list fed back to
the loop's open node in one iteration is never changed by a later one."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("ComfyUI_Power_Flow.EmptyList")
def empty_list(ctx: ExecContext) -> tuple:
    return ([],)


@executor("ComfyUI_Power_Flow.AppendToList")
def append_to_list(ctx: ExecContext, list: Any, item: Any) -> tuple:  # noqa: A002 (the pack's input name)
    try:
        items = [*list]
    except TypeError:
        raise NodeInputError("list", f"list: expected a list, found {type(list).__name__}",
                             "connect a Power Flow list (Empty List, Append To List, Int List, …)") from None
    return (items + [item],)


@executor("ComfyUI_Power_Flow.IntList")
def int_list(ctx: ExecContext, list: Any) -> tuple:  # noqa: A002
    """Comma-separated whole numbers; an empty text is an empty list (the pack's rule)."""
    if not isinstance(list, str):
        raise NodeInputError("list", f"list: expected text such as '1,2,3', found {type(list).__name__}")
    if list == "":
        return ([],)
    try:
        return ([int(part.strip()) for part in list.split(",")],)
    except ValueError:
        raise NodeInputError("list", f"list: {list[:80]!r} is not comma-separated whole numbers",
                             "write numbers such as 1,2,3") from None
