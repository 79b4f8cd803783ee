"""``CR Index Increment`` (``nodes/nodes_utils_index.py``): ``index + interval``.

The pack declares three outputs (index, interval, show_help) but returns two values:
``(index + interval, help URL)``. So its ``interval`` output carries the help URL text, and
its ``show_help`` output has no value (ComfyUI fails on a link from it). wfrun returns the
same two values plus nothing usable for ``show_help``: :mod:`.checks` reports a link from
``show_help`` as an error and one from ``interval`` as a warning before the run.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

HELP_URL = "https://github.com/Suzie1/ComfyUI_Comfyroll_CustomNodes/wiki/Index-Nodes#cr-index-increment"


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}", "connect an INT")
    return value


@executor("CR Index Increment")
def index_increment(ctx: ExecContext, index: Any, interval: Any, **_: Any) -> tuple:
    return (_whole(index, "index") + _whole(interval, "interval"), HELP_URL, None)
