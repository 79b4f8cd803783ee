"""ComfyUI core's generic loops (Start Loop / End Loop, ``comfy_extras/nodes_loop.py``) and
GetItemFromList, run by the engine.

Each workflow is built here and its result compared with the plain Python loop that
ComfyUI's expansion amounts to (one copy of the body per pass, ``current_iteration_value``
the previous pass's ``next_iteration_value``, End Loop's ``outputs`` every pass's
``output_value`` when accumulating, else the last one). The carried value is a Create List
list taken apart with GetItemFromList behind a lazy If/Else switch, as the Wan Animate 2
template does: in the first pass there is nothing to take apart, so the switch's other
branch must not run."""

from __future__ import annotations

import pytest

from tests.node_helpers import node
from wfrun.engine.lists import ItemList
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError


def run(prompt: dict, outputs: list[str]):
    graph = build(from_data(prompt, "core_loops.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ExecContext())


def doubling(mode: dict, accumulate: bool, start: int = 100) -> dict:
    """v = v * 2 + iteration_index per pass, v carried as item 1 of a [index, v] list."""
    return {
        "1": {"class_type": "StartLoop", "inputs": {**mode, "cache_iterations": False}},
        "2": {"class_type": "GetItemFromList", "inputs": {"list": ["1", 4], "index": 1}},
        "3": {"class_type": "PrimitiveInt", "inputs": {"value": start}},
        "4": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["1", 1], "on_true": ["3", 0],
                                                          "on_false": ["2", 0]}},
        "5": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 2 + b", "values.a": ["4", 0],
                                                              "values.b": ["1", 0]}},
        "6": {"class_type": "CreateList", "inputs": {"inputs.input0": ["1", 0], "inputs.input1": ["5", 1]}},
        "7": {"class_type": "EndLoop", "inputs": {"output_value": ["5", 1], "next_iteration_value": ["6", 0],
                                                  "accumulate": accumulate}},
    }


def python_doubling(indices: list[int], start: int = 100) -> list[int]:
    value, seen = start, []
    for i in indices:
        value = value * 2 + i
        seen.append(value)
    return seen


def test_simple_loop_accumulates_every_pass_and_carries_a_list():
    result = run(doubling({"mode": "simple", "mode.num_iterations": 4}, accumulate=True), ["7"])
    (outputs,) = result.outputs["7"]
    assert isinstance(outputs, ItemList) and list(outputs) == python_doubling([0, 1, 2, 3])
    # the GetItemFromList behind the switch's unchosen branch ran in the three later passes only
    assert result.executed.count("2") == 3 and result.executed.count("5") == 4


def test_without_accumulate_end_loop_gives_the_last_pass():
    result = run(doubling({"mode": "simple", "mode.num_iterations": 3}, accumulate=False), ["7"])
    assert result.outputs["7"] == (python_doubling([0, 1, 2])[-1],)


def test_for_mode_counts_from_start_by_step_below_the_maximum():
    mode = {"mode": "For", "mode.start_iteration_index": 2, "mode.max_iteration": 11, "mode.step": 3}
    result = run(doubling(mode, accumulate=True), ["7"])
    assert list(result.outputs["7"][0]) == python_doubling(list(range(2, 11, 3)))


def test_list_mode_runs_once_per_item_and_gives_the_item():
    prompt = {
        "10": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
        "11": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
        "12": {"class_type": "CreateList", "inputs": {"inputs.input0": ["10", 0], "inputs.input1": ["11", 0],
                                                      "inputs.input2": ["10", 0]}},
        "1": {"class_type": "StartLoop", "inputs": {"mode": "List", "mode.list": ["12", 0],
                                                    "cache_iterations": False}},
        "2": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 10 + b", "values.a": ["1", 3],
                                                              "values.b": ["1", 0]}},
        "3": {"class_type": "EndLoop", "inputs": {"output_value": ["2", 1], "accumulate": True}},
    }
    result = run(prompt, ["3"])
    assert list(result.outputs["3"][0]) == [50, 71, 52]


def test_is_last_and_an_unconnected_carried_value_stays_the_initial_one():
    prompt = {
        "3": {"class_type": "PrimitiveInt", "inputs": {"value": 9}},
        "1": {"class_type": "StartLoop", "inputs": {"mode": "simple", "mode.num_iterations": 3,
                                                    "cache_iterations": False, "initial_iteration_value": ["3", 0]}},
        # current value + 100 * is_last: only the last pass adds
        "2": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a + 100 * b", "values.a": ["1", 4],
                                                              "values.b": ["1", 2]}},
        "4": {"class_type": "EndLoop", "inputs": {"output_value": ["2", 1], "accumulate": True}},
    }
    assert list(run(prompt, ["4"]).outputs["4"][0]) == [9, 9, 109]


def test_end_loop_without_a_start_loop_is_named():
    prompt = {"3": {"class_type": "PrimitiveInt", "inputs": {"value": 9}},
              "4": {"class_type": "EndLoop", "inputs": {"output_value": ["3", 0], "accumulate": True}}}
    with pytest.raises(NodeError) as err:
        run(prompt, ["4"])
    assert "Start Loop" in str(err.value)


def test_get_item_from_list():
    get = node("GetItemFromList")
    assert get(ExecContext(), list=["a", "b", "c"], index=[1]) == (["b"],)
    assert get(ExecContext(), list=["a", "b", "c"], index=[-1]) == (["c"],)
    assert get(ExecContext(), list=[["x", "y"], "b"], index=[0]) == (["x", "y"],)  # a list item gives its items
    with pytest.raises(NodeInputError) as err:
        get(ExecContext(), list=["a"], index=[1])
    assert err.value.input_name == "index"
