"""Easy-Use's while-loop (``easy whileLoopStart`` / ``easy whileLoopEnd``) in the engine.

Each workflow is built here and its result compared with the plain Python loop the pack's
code amounts to (``py/nodes/logic.py``: the body runs, then the end node expands one more
pass while its ``condition`` is true, feeding back exactly what it received; a false start
condition blocks everything after the loop)."""

from __future__ import annotations

import pytest

from wfrun.engine import loops as loops_module
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext

START, END = "easy whileLoopStart", "easy whileLoopEnd"


def run(prompt: dict, outputs: list[str]):
    graph = build(from_data(prompt, "while.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ExecContext())


def collatz(start: int, limit: int = 10_000) -> dict:
    """value0 = a Collatz step of value0 each pass, value1 counts passes; go on while value0 > 1
    and the count is below ``limit``; node 9 adds 1000 to the count after the loop."""
    return {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": start}},
        "2": {"class_type": "PrimitiveInt", "inputs": {"value": 0}},
        "4": {"class_type": START, "inputs": {"condition": True, "initial_value0": ["1", 0],
                                              "initial_value1": ["2", 0]}},
        "5": {"class_type": "ComfyMathExpression",
              "inputs": {"expression": "(a % 2) * (3 * a + 1) + (1 - a % 2) * (a // 2)", "values.a": ["4", 1]}},
        "6": {"class_type": "ComfyMathExpression", "inputs": {"expression": "b + 1", "values.b": ["4", 2]}},
        "7": {"class_type": "ComfyMathExpression",
              "inputs": {"expression": f"(a > 1) * (b < {limit})", "values.a": ["5", 1], "values.b": ["6", 1]}},
        "10": {"class_type": END, "inputs": {"flow": ["4", 0], "condition": ["7", 2], "initial_value0": ["5", 1],
                                             "initial_value1": ["6", 1]}},
        "9": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a + 1000", "values.a": ["10", 1]}},
    }


def python_collatz(value: int, limit: int = 10_000) -> tuple[int, int]:
    """The pack's expansion as plain Python: a do-while on the end node's condition."""
    passes = 0
    while True:
        value = value // 2 if value % 2 == 0 else 3 * value + 1
        passes += 1
        if not (value > 1 and passes < limit):
            return value, passes


@pytest.mark.parametrize("start", [6, 7, 27])
def test_loop_runs_while_the_end_condition_holds_and_feeds_values_back(start):
    result = run(collatz(start), ["9", "10"])
    value, passes = python_collatz(start)
    assert value == 1 and passes == {6: 8, 7: 16, 27: 111}[start]  # the Collatz stopping times
    assert result.outputs["10"][:3] == (value, passes, None)
    assert result.outputs["9"][1] == passes + 1000
    assert result.executed.count("5") == passes and result.executed.count("7") == passes
    for outside in ("1", "2", "9"):
        assert result.executed.count(outside) == 1


def test_a_false_end_condition_still_runs_the_body_once():
    result = run(collatz(1), ["10"])  # 1 -> 4: the condition is then true; start at 2 -> 1 stops
    assert result.outputs["10"][:2] == python_collatz(1) == (1, 3)
    result = run(collatz(2), ["10"])
    assert result.outputs["10"][:2] == (1, 1) and result.executed.count("5") == 1


def test_a_limit_inside_the_body_stops_it():
    result = run(collatz(27, limit=5), ["10"])
    assert result.outputs["10"][:2] == python_collatz(27, 5) and result.outputs["10"][1] == 5


def test_value_left_unconnected_on_the_end_node_is_none_after_the_first_pass():
    prompt = collatz(6)
    prompt["3"] = {"class_type": "PrimitiveString", "inputs": {"value": "kept"}}
    prompt["4"]["inputs"]["initial_value2"] = ["3", 0]
    prompt["8"] = {"class_type": "easy convertAnything", "inputs": {"*": ["4", 3], "output_type": "string"}}
    prompt["11"] = {"class_type": "StringConcatenate", "inputs": {"string_a": ["8", 0], "string_b": "|",
                                                                  "delimiter": ""}}
    prompt["10"]["inputs"]["initial_value3"] = ["11", 0]
    result = run(prompt, ["10"])
    # pass 1 sees "kept"; the end node received "kept|" into value3, while value2 (unconnected) is None
    assert result.outputs["10"][2] is None and result.outputs["10"][3] == "None|"


def test_a_condition_that_stays_true_is_refused_naming_the_end_node(monkeypatch):
    monkeypatch.setattr(loops_module, "MAX_ITERATIONS", 4)
    prompt = collatz(27)
    prompt["10"]["inputs"]["condition"] = True
    with pytest.raises(NodeError) as err:
        run(prompt, ["10"])
    assert err.value.node.id == "10" and err.value.input_name == "condition"
    assert "4 times" in str(err.value)
    # four passes exactly are allowed
    assert run(collatz(27, limit=4), ["10"]).outputs["10"][:2] == python_collatz(27, 4)


def test_a_false_start_condition_is_refused_naming_it():
    prompt = collatz(6)
    prompt["4"]["inputs"]["condition"] = False
    with pytest.raises(NodeError) as err:
        run(prompt, ["10"])
    assert err.value.node.id == "4" and err.value.input_name == "condition"


def test_a_condition_that_is_not_a_boolean_is_named():
    prompt = collatz(6)
    prompt["10"]["inputs"]["condition"] = ["4", 0]  # the FLOW_CONTROL object
    with pytest.raises(NodeError) as err:
        run(prompt, ["10"])
    assert err.value.node.id == "10" and err.value.input_name == "condition"


def test_end_node_not_linked_to_a_start_node_says_so():
    prompt = collatz(6)
    prompt["10"]["inputs"]["flow"] = ["1", 0]
    with pytest.raises(NodeError) as err:
        run(prompt, ["10"])
    assert err.value.input_name == "flow"
