"""WanVACEBatchContext: the step's clip pair, flags and work paths, worked by hand for each
of its versions (inputs as ComfyUI's INPUT_IS_LIST hands them: every one a list)."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CLIPS = ["a.mp4", "b.mp4", "c.mp4"]


def run(ctx=None, **inputs):
    return node("WanVACEBatchContext")(ctx or ExecContext(), input_list=CLIPS, **inputs)


def test_steps_without_loop():
    assert run(input_dir=["in"], project_name=[" proj "], index=[0]) == (
        "proj/vace-work", "proj/vace-work/index000", "in/a.mp4", "in/b.mp4", True, False, False)
    assert run(index=[1]) == ("vace-work", "vace-work/index001", "b.mp4", "c.mp4", False, True, True)


def test_loop_closes_from_the_last_clip_to_the_first():
    assert run(index=[2], make_loop=[True]) == (
        "vace-work", "vace-work/index002", "c.mp4", "a.mp4", False, False, True)
    assert run(index=[1], make_loop=[True])[4:] == (False, False, False)


def test_first_version_paths_and_six_outputs():
    old = ExecContext(saved_date="2026-02-06")
    assert run(old, input_dir=[""], project_name=["."], index=[0]) == (
        "./vace-work", "./vace-work/index000", "/a.mp4", "/b.mp4", True, False)
    assert len(run(ExecContext(saved_date="2026-02-15"), index=[0])) == 6


@pytest.mark.parametrize("inputs, name", [({"index": [2]}, "index"), ({"index": [-1]}, "index")])
def test_out_of_range(inputs, name):
    with pytest.raises(NodeInputError) as err:
        run(**inputs)
    assert err.value.input_name == name
    with pytest.raises(NodeInputError) as err:
        node("WanVACEBatchContext")(ExecContext(), input_list=["a.mp4"], index=[0])
    assert err.value.input_name == "input_list"
