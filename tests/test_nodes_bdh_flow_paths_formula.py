"""Basic data handling's MathFormula (the pack's grammar: precedence, unary minus above
``**``, pi()/e() calls, whole-number floor/ceil/round), DataListIndex/Pop/Sort (Python's
list.index/pop/sorted), IfElse/FlowSelect, and PathListDir/PathOutputDir kept inside the
run's folders. Expected values are Python's own arithmetic on the formula as the pack
groups it."""

from __future__ import annotations

import math
import os

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.basic_data_handling.flow import BLOCKED

P = "Basic data handling: "
CTX = ExecContext()


def formula(text, **values):
    return node(P + "MathFormula")(CTX, formula=text, **values)[0]


@pytest.mark.parametrize("text,values,want", [
    ("a-(b*2)", {"a": 10, "b": 3}, 4.0),
    ("-a ** 2", {"a": 3}, 9.0),                 # (-a) ** 2: unary minus binds tighter
    ("-(a ** 2)", {"a": 3}, -9.0),
    ("2 ** 3 ** 2", {}, 2.0 ** 9),              # right-associative
    ("2 ** -1", {}, 0.5),
    ("a - b - c", {"a": 10, "b": 3, "c": 2}, 5.0),
    ("7 // 2 + 7 % 4 * 2", {}, 3.0 + 6.0),
    ("-pi() ** 2", {}, math.pi ** 2),
    ("max(a, -b) + min(1, 2)", {"a": 1, "b": 5}, 2.0),
    ("pow(2, 10) / atan2(1, 1)", {}, 1024 / math.atan2(1, 1)),
    ("floor(a) + 1", {"a": 2.7}, 3.0),         # number literals are floats
    ("floor(a)", {"a": 2.7}, 2),
    ("inf", {}, math.inf),
])
def test_math_formula_follows_the_packs_grammar(text, values, want):
    got = formula(text, **values)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("text,values", [
    ("a / b", {"a": 1, "b": 0}), ("c + 1", {}), ("pi + 1", {}), ("foo(1)", {}), ("ab + 1", {}),
    ("+1", {}), ("(1 + 2", {}), ("1 2", {}), ("__import__('os')", {}), ("a ** 0.5", {"a": -1}),
    ("floor(a) ** floor(b)", {"a": 10, "b": 10**6}), ("sqrt(a)", {"a": -1}), ("x" * 20_000, {}),
])
def test_math_formula_refusals_name_formula(text, values):
    with pytest.raises(NodeInputError) as err:
        formula(text, **values)
    assert err.value.input_name == "formula"


def test_data_list_index_pop_sort():
    items = ["b", "a", "c", "a"]
    assert node(P + "DataListIndex")(CTX, list=items, value=["a"]) == (1,)
    assert node(P + "DataListIndex")(CTX, list=items, value=["a"], start=[2]) == (3,)
    assert node(P + "DataListIndex")(CTX, list=items, value=["z"]) == (-1,)
    assert node(P + "DataListIndex")(CTX, list=items, value=["a"], end=[1]) == (-1,)
    assert node(P + "DataListPop")(CTX, list=items) == (["b", "a", "c"], "a")
    assert node(P + "DataListPop")(CTX, list=items, index=[0]) == (["a", "c", "a"], "b")
    assert node(P + "DataListPop")(CTX, list=items, index=[9]) == (items, None)
    assert node(P + "DataListSort")(CTX, list=items) == (sorted(items),)
    assert node(P + "DataListSort")(CTX, list=items, reverse=["True"]) == (sorted(items, reverse=True),)
    with pytest.raises(NodeInputError):
        node(P + "DataListSort")(CTX, list=[1, "a"])


def test_if_else_and_flow_select():
    assert node(P + "IfElse")(CTX, condition=True, if_true=1, if_false=None) == (1,)
    assert node(P + "IfElse")(CTX, condition=False, if_true=None, if_false=2) == (2,)
    with pytest.raises(NodeInputError) as err:
        node(P + "IfElse")(CTX, condition=1, if_true=1, if_false=2)
    assert err.value.input_name == "condition"
    assert node(P + "FlowSelect")(CTX, value="v", select=True) == ("v", BLOCKED)
    assert node(P + "FlowSelect")(CTX, value="v", select=False) == (BLOCKED, "v")


def test_paths_stay_inside_the_run_folders(tmp_path):
    out, inp = tmp_path / "out", tmp_path / "in"
    (out / "clips" / "sub").mkdir(parents=True)
    inp.mkdir()
    (out / "clips" / "a.mp4").write_bytes(b"")
    ctx = ExecContext(output_dir=out, input_dir=inp)
    assert node(P + "PathOutputDir")(ctx) == (str(out.resolve()),)
    listed = node(P + "PathListDir")(ctx, path=str(out / "clips"))[0]
    assert sorted(listed) == sorted(os.listdir(out / "clips"))
    assert node(P + "PathListDir")(ctx, path=str(out / "clips"), files_only=True)[0] == ["a.mp4"]
    assert node(P + "PathListDir")(ctx, path=str(out / "clips"), dirs_only=True)[0] == ["sub"]
    (out / "escape").symlink_to(tmp_path)
    for bad in ("", "clips", str(tmp_path), str(out / ".." / "in" / ".." / ".."), str(out / "escape"),
                str(out / "missing"), str(out / "clips" / "a.mp4")):
        with pytest.raises(NodeInputError) as err:
            node(P + "PathListDir")(ctx, path=bad)
        assert err.value.input_name == "path"


def test_a_windows_folder_from_the_saving_machine_is_named_as_such(tmp_path):
    """wfrun runs on Linux (CI, the GPU machines): there a drive path is a foreign one."""
    ctx = ExecContext(output_dir=tmp_path / "out", input_dir=tmp_path / "in")
    for windows in ("F:\\comfyui-workdirs\\output\\jungle\\raw", "C:/clips", "\\\\nas\\clips"):
        with pytest.raises(NodeInputError) as err:
            node(P + "PathListDir")(ctx, path=windows)
        assert err.value.input_name == "path" and "Windows folder of the machine" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node(P + "PathListDir")(ctx, path="clips")
    assert "relative to ComfyUI's own folder" in str(err.value)
