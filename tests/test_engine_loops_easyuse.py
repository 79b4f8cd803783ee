"""Easy-Use's for-loop (``easy forLoopStart`` / ``easy forLoopEnd``) in the engine.

Each workflow is built here and its result compared with the plain Python loop that the
pack's code amounts to (``py/nodes/logic.py``: the end node expands into a while-loop that
runs the body, then goes on while ``index + 1 < total``, feeding back exactly what the end
node received)."""

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

START, END = "easy forLoopStart", "easy forLoopEnd"


def run(prompt: dict, outputs: list[str]):
    graph = build(from_data(prompt, "loops.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ExecContext())


def accumulate(total, start: int = 1, text: str = "i") -> dict:
    """``total`` a number or a link; value1 = value1*3 + index and value2 = value2 + "," + str(index) each pass;
    node 9 adds 1 to the loop's value1 after the loop."""
    return {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": start}},
        "2": {"class_type": "PrimitiveString", "inputs": {"value": text}},
        "4": {"class_type": START, "inputs": {"total": total, "initial_value1": ["1", 0],
                                              "initial_value2": ["2", 0]}},
        "5": {"class_type": "easy mathInt", "inputs": {"a": ["4", 2], "b": 3, "operation": "multiply"}},
        "6": {"class_type": "easy mathInt", "inputs": {"a": ["5", 0], "b": ["4", 1], "operation": "add"}},
        "7": {"class_type": "easy convertAnything", "inputs": {"*": ["4", 1], "output_type": "string"}},
        "8": {"class_type": "StringConcatenate", "inputs": {"string_a": ["4", 3], "string_b": ["7", 0],
                                                             "delimiter": ","}},
        "10": {"class_type": END, "inputs": {"flow": ["4", 0], "initial_value1": ["6", 0],
                                             "initial_value2": ["8", 0]}},
        "9": {"class_type": "easy mathInt", "inputs": {"a": ["10", 0], "b": 1, "operation": "add"}},
    }


def python_loop(total: int, start: int, text: str, first_index: int = 0) -> tuple[int, str, int]:
    """The pack's expansion as plain Python: run, then go on while index + 1 < total."""
    value, index, passes = start, first_index, 0
    while True:
        value = value * 3 + index
        text = text + "," + str(index)
        passes += 1
        index += 1
        if not index < total:
            return value, text, passes


@pytest.mark.parametrize("total", [1, 2, 5])
def test_loop_runs_total_times_with_index_and_feeds_values_back(total):
    result = run(accumulate(total, 2, "s"), ["9", "10"])
    value, text, passes = python_loop(total, 2, "s")
    assert passes == total
    assert result.outputs["10"][:3] == (value, text, None)
    assert result.outputs["9"][0] == value + 1
    assert text == "s," + ",".join(str(i) for i in range(total))  # the index outputs 0 … total-1
    assert result.executed.count("5") == total and result.executed.count("8") == total
    for outside in ("1", "2", "9"):
        assert result.executed.count(outside) == 1


@pytest.mark.parametrize("total", [0, -3])
def test_total_below_one_through_a_link_still_runs_the_body_once(total):
    # the widget stops at 1; a linked INT can be 0: the pack has run the body once
    # before its first comparison, so wfrun does too
    prompt = accumulate(["3", 0], 4, "z")
    prompt["3"] = {"class_type": "PrimitiveInt", "inputs": {"value": total}}
    result = run(prompt, ["10"])
    assert result.outputs["10"][:2] == (4 * 3 + 0, "z,0")
    assert python_loop(total, 4, "z")[2] == 1 and result.executed.count("5") == 1


def test_hidden_initial_value0_starts_the_index():
    prompt = accumulate(5, 1, "h")
    prompt["4"]["inputs"]["initial_value0"] = 2
    result = run(prompt, ["10"])
    value, text, passes = python_loop(5, 1, "h", first_index=2)
    assert passes == 3 and text == "h,2,3,4"
    assert result.outputs["10"][:2] == (value, text)


def test_value_left_unconnected_on_the_end_node_is_none_after_the_first_pass():
    # the pack hands its clone nothing for an empty end socket: unlike Power Flow's
    # loop, the start node's value is not carried
    prompt = accumulate(3, 1, "u")
    prompt["3"] = {"class_type": "PrimitiveString", "inputs": {"value": "kept"}}
    prompt["4"]["inputs"]["initial_value3"] = ["3", 0]
    prompt["7"]["inputs"]["*"] = ["4", 4]  # value3, not the index
    result = run(prompt, ["10"])
    assert result.outputs["10"][1] == "u,kept,None,None"
    assert result.outputs["10"][2] is None


def test_too_many_passes_are_refused_naming_the_start_node_and_total(monkeypatch):
    monkeypatch.setattr(loops_module, "MAX_ITERATIONS", 4)
    with pytest.raises(NodeError) as err:
        run(accumulate(5), ["9"])
    assert err.value.node.id == "4" and err.value.input_name == "total"
    assert "more than 4 times" in str(err.value)
    assert run(accumulate(4), ["9"]).outputs["9"][0] == python_loop(4, 1, "i")[0] + 1


def test_a_total_that_is_not_a_number_is_named():
    prompt = accumulate(["2", 0])  # a STRING
    with pytest.raises(NodeError) as err:
        run(prompt, ["9"])
    assert err.value.node.id == "4" and err.value.input_name == "total"


def test_end_node_not_linked_to_a_start_node_says_so():
    prompt = accumulate(2)
    prompt["10"]["inputs"]["flow"] = ["1", 0]
    with pytest.raises(NodeError) as err:
        run(prompt, ["9"])
    assert err.value.input_name == "flow"


def test_nested_loops_match_nested_python_loops():
    # outer 3 passes carrying a total; inner 2 passes adding outer index * 10 + inner index
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 0}},
        "10": {"class_type": START, "inputs": {"total": 3, "initial_value1": ["1", 0]}},
        "20": {"class_type": START, "inputs": {"total": 2, "initial_value1": ["10", 2]}},
        "21": {"class_type": "easy mathInt", "inputs": {"a": ["10", 1], "b": 10, "operation": "multiply"}},
        "22": {"class_type": "easy mathInt", "inputs": {"a": ["21", 0], "b": ["20", 1], "operation": "add"}},
        "23": {"class_type": "easy mathInt", "inputs": {"a": ["20", 2], "b": ["22", 0], "operation": "add"}},
        "24": {"class_type": END, "inputs": {"flow": ["20", 0], "initial_value1": ["23", 0]}},
        "12": {"class_type": END, "inputs": {"flow": ["10", 0], "initial_value1": ["24", 0]}},
    }
    total = 0
    for outer in range(3):
        for inner in range(2):
            total += outer * 10 + inner
    result = run(prompt, ["12"])
    assert result.outputs["12"][0] == total
    assert result.executed.count("23") == 6


def ui_loop_workflow() -> dict:
    """A small loop as a UI file, sockets as the pack names them (value1 = value1*3 + index)."""
    nodes = [
        node(1, "PrimitiveInt", [2, "fixed"], outputs=[out("INT", "INT", [1])]),
        node(4, START, [4], inputs=[inp("total", "INT", None, widget="total"), inp("initial_value1", "*", 1)],
             outputs=[out("flow", "FLOW_CONTROL", [2]), out("index", "INT", [3]), out("value1", "*", [4])]),
        node(5, "easy mathInt", [0, 3, "multiply"], inputs=[inp("a", "INT", 4, widget="a")],
             outputs=[out("int", "INT", [5])]),
        node(6, "easy mathInt", [0, 0, "add"], inputs=[inp("a", "INT", 5, widget="a"), inp("b", "INT", 3, widget="b")],
             outputs=[out("int", "INT", [6])]),
        node(7, END, [], inputs=[inp("flow", "FLOW_CONTROL", 2), inp("initial_value1", "*", 6)],
             outputs=[out("value1", "*", [7])]),
        node(8, "easy mathInt", [0, 1, "add"], inputs=[inp("a", "INT", 7, widget="a")], outputs=[out("int", "INT")]),
    ]
    links = [[1, 1, 0, 4, 1, "*"], [2, 4, 0, 7, 0, "FLOW_CONTROL"], [3, 4, 1, 6, 1, "INT"],
             [4, 4, 2, 5, 0, "*"], [5, 5, 0, 6, 0, "INT"], [6, 6, 0, 7, 1, "*"], [7, 7, 0, 8, 0, "*"]]
    return workflow(nodes, links)


def test_ui_file_validates_and_runs(tmp_path):
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(ui_loop_workflow()))
    validated = CliRunner().invoke(main, ["validate", "--format", "json", str(path)], catch_exceptions=False)
    text = validated.output
    assert validated.exit_code == 0, text
    assert "cycle" not in text and "missing" not in text
    graph = build(from_data(ui_loop_workflow(), "loop.json"))
    result = run_plan(graph, make_plan(graph, ["8"]), ExecContext())
    value = 2
    for index in range(4):
        value = value * 3 + index
    assert result.outputs["8"][0] == value + 1
