"""More of the pack's data-list nodes (``data_list_nodes.py``, 0.6.0 – 1.0.0): DataListIndex,
DataListPop and DataListSort. Like :mod:`.data_lists`, they take every input as a whole list
(``INPUT_IS_LIST``) and read a widget as the first item of its list.

* DataListIndex: ``list.index(value, start, end)``, ``end`` -1 meaning the list's length
  (other values as Python slices them); -1 when the value is not there.
* DataListPop: a copy of the list without the item at ``index`` (Python's ``pop``: -1 the
  last), as a data list, and that item; an index out of range gives the list unchanged and
  ``None``.
* DataListSort: ``sorted`` (reverse when the ``reverse`` choice is the text "True").
  Items that Python cannot order against each other are refused on ``list``.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, executor
from wfrun.packs.basic_data_handling.common import read_int
from wfrun.packs.basic_data_handling.data_lists import _compared, _first, _items, _names


@executor(*_names("DataListIndex"))
def index(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    value = _first(inputs, "value", None)
    start = read_int(_first(inputs, "start", 0), "start")
    end = read_int(_first(inputs, "end", -1), "end")
    if end == -1:
        end = len(items)

    def find() -> int:
        try:
            return items.index(value, start, end)
        except ValueError:
            return -1
    return (_compared(find),)


@executor(*_names("DataListPop"))
def pop(ctx: ExecContext, **inputs: Any) -> tuple:
    rest = list(_items(inputs, "list"))
    at = read_int(_first(inputs, "index", -1), "index")
    if -len(rest) <= at < len(rest):
        item = rest.pop(at)
        return (rest, item)
    return (rest, None)


@executor(*_names("DataListSort"))
def sort(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    reverse = _first(inputs, "reverse", "False") == "True"
    return (_compared(lambda: sorted(items, reverse=reverse)),)

