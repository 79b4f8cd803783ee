"""Easy-Use's easy ifElse, easy compare and easy conditioningIndexSwitch (py/nodes/logic.py at
3f37ba9). Expected values follow the pack's rules written out here: ``on_true`` when
``boolean`` is truthy, else ``on_false`` (lazy: the other branch never runs); Python's six
comparisons; ``cond<index>`` (lazy: only it runs). The whole-run checks save the colour
EmptyImage fills with, so each fails on the wrong branch, and name a missing model on the
branch that must not run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.node_helpers import node
from wfrun.jobs.run import RunOptions, run_file
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
RED, BLUE = 0xFF0000, 0x0000FF


@pytest.mark.parametrize("comparison,a,b,expected", [
    ("a == b", 3, 3, True), ("a != b", 3, 3, False), ("a < b", 2, 3, True), ("a > b", 2, 3, False),
    ("a <= b", 3, 3, True), ("a >= b", "abc", "abd", False), ("a == b", 1, 1.0, True),
])
def test_compare_is_pythons_comparison(comparison, a, b, expected):
    assert node("easy compare")(CTX, a=a, b=b, comparison=comparison) == (expected,)


def test_compare_refuses_what_gives_no_boolean():
    with pytest.raises(NodeInputError) as err:
        node("easy compare")(CTX, a=torch.zeros(2), b=0, comparison="a == b")
    assert err.value.input_name == "a"
    with pytest.raises(NodeInputError):
        node("easy compare")(CTX, a="x", b=2, comparison="a < b")
    with pytest.raises(NodeInputError) as err:
        node("easy compare")(CTX, a=1, b=2, comparison="a <> b")
    assert err.value.input_name == "comparison"


def test_if_else_takes_the_branch_the_truth_of_boolean_chooses():
    assert node("easy ifElse")(CTX, boolean=True, on_true="t", on_false="f") == ("t",)
    assert node("easy ifElse")(CTX, boolean=0, on_true="t", on_false="f") == ("f",)
    assert node("easy ifElse")(CTX, boolean="yes", on_true="t", on_false="f") == ("t",)


def test_conditioning_index_switch_gives_the_chosen_input_or_names_it():
    a, b = [[torch.zeros(1, 2, 4), {}]], [[torch.ones(1, 2, 4), {}]]
    assert node("easy conditioningIndexSwitch")(CTX, index=1, cond0=a, cond1=b)[0] is b
    with pytest.raises(NodeInputError) as err:
        node("easy conditioningIndexSwitch")(CTX, index=3, cond0=a, cond1=b)
    assert err.value.input_name == "index" and "cond3" in str(err.value)


def image(color: int) -> dict:
    return {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 1, "color": color}}


def missing_branch() -> dict:
    return {"class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["9", 0], "image": ["2", 0]}}


@pytest.mark.parametrize("a,b,expected", [(4, 4, (0, 0, 255)), (4, 5, (255, 0, 0))])
def test_a_compare_driven_if_else_runs_only_its_branch(tmp_path, a, b, expected):
    prompt = {
        "1": {"class_type": "easy compare", "inputs": {"a": a, "b": b, "comparison": "a == b"}},
        "2": image(RED), "3": image(BLUE),
        "9": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "nobody_has_this.safetensors"}},
        "4": missing_branch(),
        # on_true: blue; on_false: red; a third, never chosen, would need a model nobody has
        "5": {"class_type": "easy ifElse", "inputs": {"boolean": ["1", 0], "on_true": ["3", 0], "on_false": ["2", 0]}},
        "6": {"class_type": "easy ifElse", "inputs": {"boolean": True, "on_true": ["5", 0], "on_false": ["4", 0]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "easy"}},
    }
    path = tmp_path / "easy.json"
    path.write_text(json.dumps(prompt))
    models = tmp_path / "models"
    models.mkdir()
    report = run_file(path, RunOptions(models_dir=str(models), output_dir=tmp_path / "out", device="cpu"))
    assert "9" not in report.result.executed and "4" not in report.result.executed
    (png,) = [p for p in report.result.written if p.suffix == ".png"]
    assert tuple(int(c) for c in np.asarray(Image.open(png).convert("RGB"))[0, 0]) == expected
