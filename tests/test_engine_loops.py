"""Loops in the engine (``wfrun.engine.loops``) on ComfyUI-Power-Flow's for-loop.

Each workflow is built here and its result compared with the plain Python loop that the
pack's code amounts to (``loop_control.py``: one pass per item of ``list``, the close node's
values fed back as the open node's, the values as they stand when the items run out)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from specs_for_tests import inp, node, out, workflow
from wfrun.cli import main
from wfrun.engine import loops as loops_module
from wfrun.engine.executors import load_packs
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, OutputCache, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes import executor as registry_module
from wfrun.nodes.executor import ExecContext, ExecutorInfo

P = "ComfyUI_Power_Flow."


def run(prompt: dict, outputs: list[str], cache: OutputCache | None = None, ctx: ExecContext | None = None):
    graph = build(from_data(prompt, "loops.json"))
    assert not graph.problems
    return run_plan(graph, make_plan(graph, outputs), ctx or ExecContext(), cache)


def accumulate(items: str, start: int) -> dict:
    """v = v*2 + item for each item, collecting every v in a list; node 8 adds 1 after the loop."""
    return {
        "1": {"class_type": P + "IntList", "inputs": {"list": items}},
        "2": {"class_type": P + "Int", "inputs": {"value": start}},
        "3": {"class_type": P + "EmptyList", "inputs": {}},
        "4": {"class_type": P + "ForLoopOpen",
              "inputs": {"list": ["1", 0], "initial_value_0": ["2", 0], "initial_value_1": ["3", 0]}},
        "5": {"class_type": "SimpleMath+", "inputs": {"value": "a*2+b", "a": ["4", 2], "b": ["4", 1]}},
        "6": {"class_type": P + "AppendToList", "inputs": {"list": ["4", 3], "item": ["5", 0]}},
        "7": {"class_type": P + "ForLoopClose",
              "inputs": {"open_node_link": ["4", 0], "initial_value_0": ["5", 0], "initial_value_1": ["6", 0]}},
        "8": {"class_type": "SimpleMath+", "inputs": {"value": "a+1", "a": ["7", 0]}},
    }


def python_accumulate(items: list[int], start: int) -> tuple[int, list[int]]:
    value, seen = start, []
    for item in items:
        value = value * 2 + item
        seen = seen + [value]
    return value, seen


def test_loop_runs_once_per_item_and_feeds_values_back():
    result = run(accumulate("3,1,4,1,5", 7), ["8", "7"])
    value, seen = python_accumulate([3, 1, 4, 1, 5], 7)
    assert result.outputs["7"][:2] == (value, seen)
    assert result.outputs["8"] == (value + 1, value + 1)
    assert result.executed.count("5") == 5 and result.executed.count("6") == 5
    # nodes outside the body run once
    for outside in ("1", "2", "3", "8"):
        assert result.executed.count(outside) == 1


def test_string_body_and_a_value_the_close_node_leaves_unconnected():
    prompt = {
        "1": {"class_type": P + "IntList", "inputs": {"list": "1,2,3"}},
        "2": {"class_type": "PrimitiveString", "inputs": {"value": "x"}},
        "3": {"class_type": "PrimitiveString", "inputs": {"value": "kept"}},
        "4": {"class_type": P + "ForLoopOpen",
              "inputs": {"list": ["1", 0], "initial_value_0": ["2", 0], "initial_value_1": ["3", 0]}},
        "5": {"class_type": "StringConcatenate",
              "inputs": {"string_a": ["4", 2], "string_b": ["4", 3], "delimiter": "-"}},
        "7": {"class_type": P + "ForLoopClose", "inputs": {"open_node_link": ["4", 0], "initial_value_0": ["5", 0]}},
    }
    result = run(prompt, ["7"])
    text = "x"
    for _ in range(3):
        text = text + "-" + "kept"
    assert result.outputs["7"][:2] == (text, "kept")


def test_empty_list_runs_no_body_and_gives_the_initial_values():
    result = run(accumulate("", 7), ["8", "7"])
    assert result.outputs["7"][:2] == (7, [])
    assert result.outputs["8"][0] == 8
    assert "5" not in result.executed and "6" not in result.executed


def test_nested_loops_match_nested_python_loops():
    # outer over 1,2,3 carrying a total; inner over 10,20 adding outer item * inner item
    prompt = {
        "1": {"class_type": P + "IntList", "inputs": {"list": "1,2,3"}},
        "2": {"class_type": P + "IntList", "inputs": {"list": "10,20"}},
        "3": {"class_type": P + "Int", "inputs": {"value": 0}},
        "10": {"class_type": P + "ForLoopOpen", "inputs": {"list": ["1", 0], "initial_value_0": ["3", 0]}},
        "20": {"class_type": P + "ForLoopOpen", "inputs": {"list": ["2", 0], "initial_value_0": ["10", 2]}},
        "21": {"class_type": "SimpleMath+", "inputs": {"value": "a+b*c", "a": ["20", 2], "b": ["10", 1],
                                                       "c": ["20", 1]}},
        "22": {"class_type": P + "ForLoopClose", "inputs": {"open_node_link": ["20", 0], "initial_value_0": ["21", 0]}},
        "11": {"class_type": "SimpleMath+", "inputs": {"value": "a+1000", "a": ["22", 0]}},
        "12": {"class_type": P + "ForLoopClose", "inputs": {"open_node_link": ["10", 0], "initial_value_0": ["11", 0]}},
    }
    total = 0
    for outer in (1, 2, 3):
        for inner in (10, 20):
            total = total + outer * inner
        total += 1000
    result = run(prompt, ["12"])
    assert result.outputs["12"][0] == total
    assert result.executed.count("21") == 6 and result.executed.count("11") == 3


def test_inner_loop_over_constant_list_still_reruns_per_outer_iteration():
    # the inner open node does not depend on the outer one: it is pulled into the outer body
    prompt = {
        "1": {"class_type": P + "IntList", "inputs": {"list": "5,6"}},
        "2": {"class_type": P + "IntList", "inputs": {"list": "1,1,1"}},
        "3": {"class_type": P + "EmptyList", "inputs": {}},
        "10": {"class_type": P + "ForLoopOpen", "inputs": {"list": ["1", 0], "initial_value_0": ["3", 0]}},
        "20": {"class_type": P + "ForLoopOpen", "inputs": {"list": ["2", 0], "initial_value_0": ["10", 2]}},
        "21": {"class_type": P + "AppendToList", "inputs": {"list": ["20", 2], "item": ["10", 1]}},
        "22": {"class_type": P + "ForLoopClose", "inputs": {"open_node_link": ["20", 0], "initial_value_0": ["21", 0]}},
        "12": {"class_type": P + "ForLoopClose", "inputs": {"open_node_link": ["10", 0], "initial_value_0": ["22", 0]}},
    }
    assert run(prompt, ["12"]).outputs["12"][0] == [5, 5, 5, 6, 6, 6]


def test_too_many_iterations_are_refused_naming_the_open_node_and_input(monkeypatch):
    monkeypatch.setattr(loops_module, "MAX_ITERATIONS", 4)
    with pytest.raises(NodeError) as err:
        run(accumulate("1,2,3,4,5", 0), ["8"])
    assert err.value.node.id == "4" and err.value.input_name == "list"
    assert "more than 4 times" in str(err.value)
    assert run(accumulate("1,2,3,4", 0), ["8"]).outputs["8"][0] == python_accumulate([1, 2, 3, 4], 0)[0] + 1


def test_a_list_that_cannot_be_iterated_is_named():
    prompt = accumulate("1", 0)
    prompt["4"]["inputs"]["list"] = ["2", 0]  # an INT
    with pytest.raises(NodeError) as err:
        run(prompt, ["8"])
    assert err.value.node.id == "4" and err.value.input_name == "list"


def test_rerun_serves_the_loop_from_the_cache_and_recomputes_on_change():
    cache = OutputCache()
    first = run(accumulate("1,2,3", 1), ["8"], cache)
    second = run(accumulate("1,2,3", 1), ["8"], cache)
    assert second.executed == [] and {"1", "2", "3", "7", "8"} <= set(second.cached)
    assert second.outputs["8"] == first.outputs["8"]
    third = run(accumulate("1,2,3", 2), ["8"], cache)
    assert third.executed.count("5") == 3 and third.outputs["8"][0] == python_accumulate([1, 2, 3], 2)[0] + 1


def test_node_hanging_off_the_body_is_blocked_and_outside_values_are_freed_late():
    prompt = accumulate("1,2", 0)
    prompt["9"] = {"class_type": "SimpleMath+", "inputs": {"value": "a", "a": ["5", 0]}}  # not needed by the close
    prompt["10"] = {"class_type": "SimpleMath+", "inputs": {"value": "a", "a": ["9", 0]}}
    # an outside value used by the body and by a node planned between the body and the close
    prompt["11"] = {"class_type": P + "Int", "inputs": {"value": 100}}
    prompt["5"]["inputs"]["c"] = ["11", 0]
    prompt["5"]["inputs"]["value"] = "a*2+b+c"
    prompt["12"] = {"class_type": "SimpleMath+", "inputs": {"value": "a", "a": ["11", 0]}}
    result = run(prompt, ["8", "10", "12"])
    value = 0
    for item in (1, 2):
        value = value * 2 + item + 100
    assert result.outputs["8"][0] == value + 1
    assert sorted(result.blocked) == ["10", "9"] and "10" not in result.outputs
    assert result.outputs["12"][0] == 100


def test_ctrl_c_stops_between_iterations(monkeypatch):
    load_packs()
    table = dict(registry_module._EXECUTORS)
    ctx = ExecContext()
    calls = []

    def counting(ctx_, value, a=0.0, **_):
        calls.append(a)
        if len(calls) == 2:
            ctx.interrupted = True  # as the CLI's SIGINT handler does
        return (a + 1, a + 1.0)

    table["SimpleMath+"] = ExecutorInfo(counting)
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    result = run(accumulate("1,2,3,4,5", 0), ["8"], ctx=ctx)
    assert result.interrupted and len(calls) == 2


def ui_loop_workflow() -> dict:
    """The accumulate loop as a UI file, sockets as the pack's JavaScript names them."""
    nodes = [
        node(1, P + "IntList", ["1,2,3"], outputs=[out("list", "ComfyUI-Power-Flow.LIST", [1])]),
        node(2, P + "Int", [5], outputs=[out("value", "INT", [2])]),
        node(4, P + "ForLoopOpen", [None, None],
             inputs=[inp("list", "*", 1), inp("initial_value_0", "*", 2), inp("initial_value_1", "*")],
             outputs=[out("reference", "ComfyUI-Power-Flow.FOR_LINK", [3]), out("item", "*", [4]),
                      out("value_0", "*", [5]), out("value_1", "*")]),
        node(5, "SimpleMath+", ["a*2+b"], inputs=[inp("a", "*", 5), inp("b", "*", 4)],
             outputs=[out("INT", "INT", [6]), out("FLOAT", "FLOAT")]),
        node(7, P + "ForLoopClose", [None, None],
             inputs=[inp("open_node_link", "ComfyUI-Power-Flow.FOR_LINK", 3), inp("initial_value_0", "*", 6),
                     inp("initial_value_1", "*")],
             outputs=[out("value_0", "*", [7]), out("value_1", "*")]),
        node(8, "SimpleMath+", ["a+1"], inputs=[inp("a", "*", 7)], outputs=[out("INT", "INT"), out("FLOAT", "FLOAT")]),
    ]
    links = [[1, 1, 0, 4, 0, "*"], [2, 2, 0, 4, 1, "*"], [3, 4, 0, 7, 0, "ComfyUI-Power-Flow.FOR_LINK"],
             [4, 4, 1, 5, 1, "*"], [5, 4, 2, 5, 0, "*"], [6, 5, 0, 7, 1, "*"], [7, 7, 0, 8, 0, "*"]]
    return workflow(nodes, links)


def test_ui_file_validates_without_cycle_or_missing_inputs_and_runs(tmp_path):
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(ui_loop_workflow()))
    validated = CliRunner().invoke(main, ["validate", "--format", "json", str(path)], catch_exceptions=False)
    problems = json.loads(validated.output)
    text = json.dumps(problems)
    assert validated.exit_code == 0, text
    assert "cycle" not in text and "missing" not in text
    graphed = CliRunner().invoke(main, ["graph", str(path)], catch_exceptions=False)
    assert graphed.exit_code == 0, graphed.output
    graph = build(from_data(ui_loop_workflow(), "loop.json"))
    result = run_plan(graph, make_plan(graph, ["8"]), ExecContext())
    value = python_accumulate([1, 2, 3], 5)[0]
    assert result.outputs["8"][0] == value + 1


def test_append_to_list_leaves_its_input_alone_and_int_list_parses_like_the_pack():
    from wfrun.packs.power_flow.collections import append_to_list, int_list

    given = [1, 2]
    assert append_to_list(ExecContext(), list=given, item=3) == ([1, 2, 3],) and given == [1, 2]
    assert int_list(ExecContext(), list=" 4, 5 ,6") == ([4, 5, 6],)
    assert int_list(ExecContext(), list="") == ([],)
