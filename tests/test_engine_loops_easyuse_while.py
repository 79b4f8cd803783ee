"""Easy-Use's while-loop (``easy whileLoopStart`` / ``easy whileLoopEnd``) in the engine.

Each workflow is built here and its result compared with the plain Python loop the pack's
code amounts to (``py/nodes/logic.py``: the body runs, then the end node expands one more
pass while its ``condition`` is true, feeding back exactly what it received; a false start
condition blocks everything after the loop)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from specs_for_tests import inp, node, out, workflow
from wfrun.cli import main
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


def test_while_loop_nested_in_a_for_loop_matches_nested_python_loops():
    # for index in 0..2: v = v * 10 + index; then halve v (integer) while it stays above 50
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
        "10": {"class_type": "easy forLoopStart", "inputs": {"total": 3, "initial_value1": ["1", 0]}},
        "11": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 10 + b", "values.a": ["10", 2],
                                                               "values.b": ["10", 1]}},
        "20": {"class_type": START, "inputs": {"condition": True, "initial_value0": ["11", 1]}},
        "21": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a // 2", "values.a": ["20", 1]}},
        "22": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a > 50", "values.a": ["21", 1]}},
        "23": {"class_type": END, "inputs": {"flow": ["20", 0], "condition": ["22", 2], "initial_value0": ["21", 1]}},
        "30": {"class_type": "easy forLoopEnd", "inputs": {"flow": ["10", 0], "initial_value1": ["23", 0]}},
    }
    value, halvings = 7, 0
    for index in range(3):
        value = value * 10 + index
        while True:
            value //= 2
            halvings += 1
            if not value > 50:
                break
    result = run(prompt, ["30"])
    assert result.outputs["30"][0] == value and result.executed.count("21") == halvings


def ui_while_workflow() -> dict:
    """A while loop as a UI file, sockets as the pack names them: value0 = value0 * 3 + 1 while
    the result stays below 100 (SimpleCalculatorKJ's BOOLEAN output), then + 1 after the loop."""
    nodes = [
        node(1, "PrimitiveInt", [2, "fixed"], outputs=[out("INT", "INT", [1])]),
        node(4, START, [True], inputs=[inp("condition", "BOOLEAN", None, widget="condition"),
                                       inp("initial_value0", "*", 1)],
             outputs=[out("flow", "FLOW_CONTROL", [2]), out("value0", "*", [4])]),
        node(5, "easy mathInt", [0, 3, "multiply"], inputs=[inp("a", "INT", 4, widget="a")],
             outputs=[out("int", "INT", [5])]),
        node(6, "easy mathInt", [0, 1, "add"], inputs=[inp("a", "INT", 5, widget="a")],
             outputs=[out("int", "INT", [6, 8])]),
        node(9, "SimpleCalculatorKJ", ["a < 100"], inputs=[inp("a", "*", 8)],
             outputs=[out("FLOAT", "FLOAT"), out("INT", "INT"), out("BOOLEAN", "BOOLEAN", [9])]),
        node(7, END, [], inputs=[inp("flow", "FLOW_CONTROL", 2), inp("condition", "BOOLEAN", 9, widget="condition"),
                                 inp("initial_value0", "*", 6)],
             outputs=[out("value0", "*", [7])]),
        node(8, "easy mathInt", [0, 1, "add"], inputs=[inp("a", "INT", 7, widget="a")], outputs=[out("int", "INT")]),
    ]
    links = [[1, 1, 0, 4, 1, "*"], [2, 4, 0, 7, 0, "FLOW_CONTROL"], [4, 4, 1, 5, 0, "*"], [5, 5, 0, 6, 0, "INT"],
             [6, 6, 0, 7, 2, "*"], [8, 6, 0, 9, 0, "*"], [9, 9, 2, 7, 1, "BOOLEAN"], [7, 7, 0, 8, 0, "*"]]
    return workflow(nodes, links)


def test_ui_file_validates_and_runs(tmp_path):
    path = tmp_path / "while.json"
    path.write_text(json.dumps(ui_while_workflow()))
    validated = CliRunner().invoke(main, ["validate", "--format", "json", str(path)], catch_exceptions=False)
    assert validated.exit_code == 0, validated.output
    assert "cycle" not in validated.output and "missing" not in validated.output
    graph = build(from_data(ui_while_workflow(), "while.json"))
    result = run_plan(graph, make_plan(graph, ["8"]), ExecContext())
    value = 2
    while True:
        value = value * 3 + 1
        if not value < 100:
            break
    assert value == 202 and result.outputs["8"][0] == value + 1
