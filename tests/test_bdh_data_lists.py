"""basic_data_handling's data-list nodes on ComfyUI's lists (``wfrun.engine.lists``): each
node's result is Python's own list operation on the items (``len``, indexing, slicing,
``+``, ``count``, ``in``, ``range``), as the pack computes it; through the engine, a plain
node between them runs once per item with the shorter list repeating its last item."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.engine.plan import make_plan
from wfrun.engine.run import run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.basic_data_handling.common import PREFIX

CTX = ExecContext()


def dl(name, **inputs):
    return node(PREFIX + name)(CTX, **inputs)


def test_each_node_is_pythons_list_operation():
    items = [3, 1, 4, 1, 5]
    assert dl("DataListLength", list=items) == (len(items),)
    assert dl("DataListFirst", list=items) == (3,) and dl("DataListLast", list=items) == (5,)
    assert dl("DataListFirst", list=[]) == (None,) and dl("DataListLast", list=[]) == (None,)
    assert dl("DataListGetItem", list=items, index=[-2]) == (items[-2],)
    assert dl("DataListGetItem", list=items, index=[5]) == (None,)
    assert node("DataListGetItem")(ExecContext(saved_date="2025-05-07"), input_list=items, index=[1]) == (1,)
    assert dl("DataListReverse", list=items) == (items[::-1],)
    assert dl("DataListSlice", list=items, start=[1], stop=[4], step=[2]) == (items[1:4:2],)
    assert dl("DataListSlice", list=items) == (items[0:32767:1],)  # the spec's defaults
    assert dl("DataListExtend", list_a=items, list_b=[9]) == (items + [9],)
    assert dl("DataListExtend", list_b=[9]) == ([9],)  # an unconnected list is empty
    assert dl("DataListAppend", list=items, item=[7]) == (items + [7],)
    assert dl("DataListAppend", list=items) == (items,)
    assert dl("DataListAll", list=items) == (True,) and dl("DataListAll", list=[1, 0]) == (False,)
    assert dl("DataListAny", list=[0, ""]) == (False,) and dl("DataListAny", list=[]) == (False,)
    assert dl("DataListCount", list=items, value=[1]) == (2,)
    assert dl("DataListContains", list=items, value=[4]) == (True,)
    assert dl("DataListContains", list=items) == (False,)
    assert dl("DataListToList", list=items) == (items,)
    assert dl("ListToDataList", list=items) == (items,)
    assert dl("DataListRange", start=2, stop=11, step=3) == (list(range(2, 11, 3)),)


def test_bad_values_name_their_input():
    import torch

    for name, inputs, blamed in [
        ("DataListSlice", {"list": [1], "step": [0]}, "step"),
        ("DataListRange", {"start": 0, "stop": 5, "step": 0}, "step"),
        ("DataListRange", {"start": 0, "stop": 10**9, "step": 1}, "stop"),
        ("DataListContains", {"list": [torch.ones(2)], "value": [torch.ones(2)]}, "list"),
        ("DataListLength", {"list": 5}, "list"),  # not the engine's list
        ("ListToDataList", {"list": "abc"}, "list"),
    ]:
        with pytest.raises(NodeInputError) as err:
            dl(name, **inputs)
        assert err.value.input_name == blamed, name


def test_a_workflow_maps_plain_nodes_over_data_lists():
    def to_list(source):
        return {"class_type": PREFIX + "DataListToList", "inputs": {"list": source}}

    prompt = {
        "1": {"class_type": PREFIX + "DataListRange", "inputs": {"start": 0, "stop": 4, "step": 1}},
        "2": {"class_type": PREFIX + "IntMultiply", "inputs": {"int1": ["1", 0], "int2": 10}},
        "3": to_list(["2", 0]),
        "4": {"class_type": PREFIX + "DataListSlice", "inputs": {"list": ["2", 0], "start": 1, "stop": 99, "step": 2}},
        "5": to_list(["4", 0]),
        "6": {"class_type": PREFIX + "DataListGetItem", "inputs": {"list": ["2", 0], "index": -1}},
        "7": {"class_type": PREFIX + "DataListLength", "inputs": {"list": ["2", 0]}},
        # lists of 3 and 2 items: the shorter repeats its last item
        "8": {"class_type": PREFIX + "DataListRange", "inputs": {"start": 10, "stop": 12, "step": 1}},
        "9": {"class_type": PREFIX + "IntAdd", "inputs": {"int1": ["10", 0], "int2": ["8", 0]}},
        "10": {"class_type": PREFIX + "DataListRange", "inputs": {"start": 0, "stop": 3, "step": 1}},
        "11": to_list(["9", 0]),
    }
    graph = build(from_data(prompt, "bdh.json"))
    assert not graph.problems, graph.problems
    result = run_plan(graph, make_plan(graph, ["3", "5", "6", "7", "11"]), ExecContext())
    assert result.outputs["3"] == ([0, 10, 20, 30],)
    assert result.outputs["5"] == ([10, 30],)
    assert result.outputs["6"] == (30,) and result.outputs["7"] == (4,)
    assert result.outputs["11"] == ([0 + 10, 1 + 11, 2 + 11],)
