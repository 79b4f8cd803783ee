"""The pack's data-list nodes (``data_list_nodes.py``, ``ListToDataList`` in ``list_nodes.py``):
ComfyUI lists, not LIST values.

A data list is what ComfyUI passes between nodes: an output marked ``OUTPUT_IS_LIST`` whose
items later nodes run on one at a time. These nodes set ``INPUT_IS_LIST`` (the specs record
it), so the engine hands them each input as a whole list (``wfrun.engine.lists``): the
``list`` input's items, and each widget or plain value as a list of one, whose first item is
read as the pack reads ``kwargs.get(name, [default])[0]``. An input not connected is the
pack's default (an empty list for list inputs).

Covered, each as the pack computes it: DataListLength, DataListFirst / DataListLast (None
for an empty list), DataListGetItem (Python indexing, None out of range), DataListReverse,
DataListSlice (Python slicing), DataListExtend, DataListAppend (the item when given),
DataListAll / DataListAny, DataListCount, DataListContains (False without a value),
DataListToList (the items as one LIST value), ListToDataList (a LIST's items as a data
list) and DataListRange (``range``). The earliest signatures (2025-05-07) named the list
input ``input_list`` in DataListGetItem and DataListContains; either name is read.

Differences: a comparison the values cannot make (tensors compared by ``==`` or ``in``)
fails on ``list`` with a NodeInputError where the pack raises inside ComfyUI; a range of
more than :data:`MAX_ITEMS` numbers is refused on ``stop`` before it is built (the engine
would refuse the list anyway).
"""

from __future__ import annotations

from typing import Any, Callable

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.basic_data_handling.common import PREFIX, describe, read_int, read_list

#: The most items a data list built here may have (the engine's own bound on lists).
MAX_ITEMS = 10_000


def _names(name: str) -> tuple[str, str]:
    return PREFIX + name, name


def _items(inputs: dict[str, Any], name: str, *aliases: str) -> list:
    """A list input as the engine hands it (a list), or the pack's empty default."""
    for key in (name, *aliases):
        if key in inputs and inputs[key] is not None:
            value = inputs[key]
            if not isinstance(value, list):  # the engine hands these nodes lists only
                raise NodeInputError(key, f"{key}: expected the engine's list of values, found {describe(value)}")
            return value
    return []


def _first(inputs: dict[str, Any], name: str, default: Any) -> Any:
    """The pack's ``kwargs.get(name, [default])[0]``."""
    items = _items(inputs, name)
    return items[0] if items else default


def _compared(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except (RuntimeError, TypeError, ValueError) as err:
        raise NodeInputError("list", f"list: its items cannot be compared so ({str(err)[:120]})",
                             "use items that compare as plain values (numbers, text, booleans)") from None


@executor(*_names("DataListLength"))
def length(ctx: ExecContext, **inputs: Any) -> tuple:
    return (len(_items(inputs, "list")),)


@executor(PREFIX + "DataListFirst")
def first(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    return (items[0] if items else None,)


@executor(PREFIX + "DataListLast")
def last(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    return (items[-1] if items else None,)


@executor(*_names("DataListGetItem"))
def get_item(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list", "input_list")
    index = read_int(_first(inputs, "index", 0), "index")
    return (items[index] if -len(items) <= index < len(items) else None,)


@executor(*_names("DataListReverse"))
def reverse(ctx: ExecContext, **inputs: Any) -> tuple:
    return (_items(inputs, "list")[::-1],)


@executor(*_names("DataListSlice"))
def slice_(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    start, stop, step = (read_int(_first(inputs, name, default), name)
                         for name, default in (("start", 0), ("stop", 32767), ("step", 1)))
    if step == 0:
        raise NodeInputError("step", "step: a slice step of 0 gives no items", "use a step other than 0")
    return (items[start:stop:step],)


@executor(*_names("DataListExtend"))
def extend(ctx: ExecContext, **inputs: Any) -> tuple:
    return (_items(inputs, "list_a") + _items(inputs, "list_b"),)


@executor(*_names("DataListAppend"))
def append(ctx: ExecContext, **inputs: Any) -> tuple:
    item = _items(inputs, "item")
    return (_items(inputs, "list") + item[:1],)


@executor(PREFIX + "DataListAll")
def all_(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    return (_compared(lambda: all(items)),)


@executor(PREFIX + "DataListAny")
def any_(ctx: ExecContext, **inputs: Any) -> tuple:
    items = _items(inputs, "list")
    return (_compared(lambda: any(items)),)


@executor(*_names("DataListCount"))
def count(ctx: ExecContext, **inputs: Any) -> tuple:
    items, value = _items(inputs, "list"), _first(inputs, "value", None)
    return (_compared(lambda: items.count(value)),)


@executor(*_names("DataListContains"))
def contains(ctx: ExecContext, **inputs: Any) -> tuple:
    items, values = _items(inputs, "list", "input_list"), _items(inputs, "value")
    if not values:
        return (False,)
    return (_compared(lambda: values[0] in items),)


@executor(*_names("DataListToList"))
def to_list(ctx: ExecContext, **inputs: Any) -> tuple:
    return (list(_items(inputs, "list")),)


@executor(*_names("ListToDataList"))
def from_list(ctx: ExecContext, list: Any, **_: Any) -> tuple:  # noqa: A002 - the pack's input name
    items = read_list(list, "list")
    if len(items) > MAX_ITEMS:
        raise NodeInputError("list", f"list: {len(items)} items, more than {MAX_ITEMS}", "use a shorter list")
    return (items,)


@executor(PREFIX + "DataListRange")
def range_(ctx: ExecContext, start: Any, stop: Any, step: Any, **_: Any) -> tuple:
    start, stop, step = read_int(start, "start"), read_int(stop, "stop"), read_int(step, "step")
    if step == 0:
        raise NodeInputError("step", "step: a range step of 0 never ends", "use a step other than 0")
    numbers = range(start, stop, step)
    if len(numbers) > MAX_ITEMS:
        raise NodeInputError("stop", f"the range has {len(numbers)} numbers, more than {MAX_ITEMS}",
                             "bring stop closer to start, or take a larger step")
    return (list(numbers),)
