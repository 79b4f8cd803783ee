"""KJNodes' LazySwitchKJ: the chosen branch, and inside a loop body only the chosen branch
runs (the pack's ``check_lazy_status``). Compared with a plain Python loop."""

from __future__ import annotations

import pytest

from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext


def run(prompt: dict, outputs: list[str]):
    graph = build(from_data(prompt, "lazy_switch.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ExecContext())


def constants(switch) -> dict:
    return {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
        "2": {"class_type": "PrimitiveString", "inputs": {"value": "three"}},
        "3": {"class_type": "LazySwitchKJ", "inputs": {"switch": switch, "on_false": ["1", 0], "on_true": ["2", 0]}},
    }


@pytest.mark.parametrize("switch, expected", [(True, "three"), (False, 3), (1, "three"), (0.0, 3)])
def test_switch_picks_its_branch(switch, expected):
    assert run(constants(switch), ["3"]).outputs["3"] == (expected,)


def test_a_switch_that_is_not_a_boolean_is_named():
    prompt = constants(["2", 0])
    with pytest.raises(NodeError) as err:
        run(prompt, ["3"])
    assert err.value.input_name == "switch"


def test_chosen_branch_not_connected_is_named():
    prompt = constants(True)
    del prompt["3"]["inputs"]["on_true"]
    with pytest.raises(NodeError) as err:
        run(prompt, ["3"])
    assert err.value.input_name == "on_true"


def test_in_a_loop_body_only_the_chosen_branch_runs():
    # Easy-Use for-loop over 5 passes: value1 = value1 * 2 on even indices (on_true), value1 + 7 on odd ones
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
        "4": {"class_type": "easy forLoopStart", "inputs": {"total": 5, "initial_value1": ["1", 0]}},
        "5": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a % 2 == 0", "values.a": ["4", 1]}},
        "6": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 2", "values.a": ["4", 2]}},
        "7": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a + 7", "values.a": ["4", 2]}},
        "8": {"class_type": "LazySwitchKJ", "inputs": {"switch": ["5", 2], "on_true": ["6", 1], "on_false": ["7", 1]}},
        "10": {"class_type": "easy forLoopEnd", "inputs": {"flow": ["4", 0], "initial_value1": ["8", 0]}},
    }
    value, evens = 1, 0
    for index in range(5):
        value = value * 2 if index % 2 == 0 else value + 7
        evens += index % 2 == 0
    result = run(prompt, ["10"])
    assert result.outputs["10"][0] == value == ((1 * 2 + 7) * 2 + 7) * 2
    assert result.executed.count("6") == evens == 3 and result.executed.count("7") == 2
