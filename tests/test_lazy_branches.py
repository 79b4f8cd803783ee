"""Lazy inputs outside loops (``wfrun.engine.lazy``): the branch a switch does not take never
runs, as in ComfyUI (``check_lazy_status``), so it may hold nodes wfrun cannot run and name
files the user does not have.

The expected values are the switch's own rule (ComfyUI's ``nodes_logic.py``: ``on_true`` when
``switch`` is true, else ``on_false``; a lone connected branch whatever ``switch`` says) and
the colour EmptyImage fills with, so each check can fail on the wrong branch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from wfrun.engine import plan as plan_module
from wfrun.engine.executors import get_executor, load_packs
from wfrun.engine.overrides import Override, apply_overrides
from wfrun.engine.plan import make_plan
from wfrun.engine.run import run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.jobs.run import JobError, RunOptions, prepare, run_file
from wfrun.nodes import executor as registry_module
from wfrun.nodes.executor import ExecContext, ExecutorInfo

RED, BLUE = 0xFF0000, 0x0000FF
#: A core node type with a spec; the tests make wfrun unable to run it (``no_invert``).
UNSUPPORTED = "ImageInvert"


def image(color: int) -> dict:
    return {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": 1, "color": color}}


def switch_prompt(switch) -> dict:
    """SaveImage of a switch between a red image (on_false) and, on_true, a branch that
    loads an upscale model file and an image nobody has and feeds a node wfrun cannot run."""
    return {
        "1": {"class_type": "PrimitiveBoolean", "inputs": {"value": switch}},
        "2": image(RED),
        "3": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "missing_upscaler.safetensors"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
        "5": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["3", 0], "image": ["4", 0]}},
        "6": {"class_type": UNSUPPORTED, "inputs": {"image": ["5", 0]}},
        "7": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["1", 0], "on_false": ["2", 0],
                                                          "on_true": ["6", 0]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "lazy"}},
    }


@pytest.fixture
def no_invert(monkeypatch):
    """Whatever other packs add: here wfrun has no executor for ``UNSUPPORTED``."""
    monkeypatch.setattr(plan_module, "get_executor",
                        lambda t, spec=None: None if t == UNSUPPORTED else get_executor(t, spec))


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """``UNSUPPORTED`` runnable (1 - image), and UpscaleModelLoader a background loader that
    loads nothing: each counts its calls, by class type."""
    load_packs()
    table = dict(registry_module._EXECUTORS)
    counted: dict[str, int] = {}

    def invert(ctx, image, **_):
        counted[UNSUPPORTED] = counted.get(UNSUPPORTED, 0) + 1
        return (1.0 - image,)

    def loader(ctx, **_):
        counted["UpscaleModelLoader"] = counted.get("UpscaleModelLoader", 0) + 1
        return ("an upscale model",)

    def upscale(ctx, upscale_model, image, **_):
        counted["ImageUpscaleWithModel"] = counted.get("ImageUpscaleWithModel", 0) + 1
        return (image,)

    table[UNSUPPORTED] = ExecutorInfo(invert)
    table["UpscaleModelLoader"] = ExecutorInfo(loader, background=True)
    table["ImageUpscaleWithModel"] = ExecutorInfo(upscale)
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    return counted


def write(tmp_path, prompt: dict):
    path = tmp_path / "lazy.json"
    path.write_text(json.dumps(prompt))
    return path


def saved_colour(report) -> tuple[int, int, int]:
    (png,) = [p for p in report.result.written if p.suffix == ".png"]
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (16, 32, 3)
    return tuple(int(c) for c in pixels[0, 0])


def test_untaken_branch_is_planned_out_and_the_run_succeeds(tmp_path, no_invert):
    models = tmp_path / "models"
    models.mkdir()  # an empty models folder: the upscale model is nowhere
    report = run_file(write(tmp_path, switch_prompt(False)),
                      RunOptions(models_dir=str(models), output_dir=tmp_path / "out", device="cpu"))
    plan = report.prepared.plan
    assert set(plan.untaken) == {"3", "4", "5", "6"} and set(plan.untaken) <= set(plan.pruned)
    assert "'on_true' of node 7" in plan.untaken["6"] and "'on_false'" in plan.untaken["6"]
    assert plan.unsupported == [] and not set(plan.untaken) & set(plan.order)
    assert not set(plan.untaken) & set(report.result.executed)
    assert saved_colour(report) == (255, 0, 0)  # on_false's red image
    assert report.to_json()["plan"]["untaken"] == plan.untaken


def test_a_set_override_takes_the_other_branch(tmp_path, no_invert):
    models = tmp_path / "models"
    models.mkdir()
    path = write(tmp_path, switch_prompt(False))
    with pytest.raises(JobError) as err:
        prepare(path, RunOptions(models_dir=str(models), output_dir=tmp_path / "out", overrides=["1.value=true"]))
    assert {(d.code, d.node_id) for d in err.value.diagnostics} == {("missing-model", "3"),
                                                                     ("missing-input-file", "4")}
    graph = build(from_data(switch_prompt(False), "lazy.json"))
    apply_overrides(graph, [Override.parse("1.value=true")])
    plan = make_plan(graph)
    assert plan.unsupported == ["6"] and "2" in plan.untaken and "2" not in plan.order


def test_flipped_run_refuses_the_node_it_cannot_run_by_name(tmp_path, no_invert):
    prompt = switch_prompt(True)
    prompt["4"] = image(BLUE)
    prompt["6"]["inputs"]["image"] = ["4", 0]  # no file on the taken branch: only the node is missing
    with pytest.raises(JobError) as err:
        prepare(write(tmp_path, prompt), RunOptions(output_dir=tmp_path / "out", tiny_models=True))
    assert "node 6" in err.value.message and UNSUPPORTED in err.value.message


@pytest.mark.parametrize("switch", [False, True])
def test_a_chosen_branch_left_unconnected_gives_none_and_the_other_never_runs(tmp_path, switch):
    prompt = {"1": image(BLUE),
              "2": {"class_type": "ComfySwitchNode", "inputs": {"switch": switch, "on_true": ["1", 0]}}}
    graph = build(from_data(prompt, "one.json"))
    plan = make_plan(graph, ["2"])
    assert plan.chosen == {"2": {"on_true"} if switch else set()}
    assert set(plan.untaken) == (set() if switch else {"1"}) and ("1" in plan.order) == switch
    result = run_plan(graph, plan, ExecContext(output_dir=tmp_path))
    if switch:
        assert result.outputs["2"][0][0, 0, 0].tolist() == [0.0, 0.0, 1.0]
    else:  # ComfyUI's newer switch: the chosen on_false is not connected
        assert result.outputs["2"] == (None,) and "1" not in result.executed


def computed_prompt(width: int) -> dict:
    """The switch's boolean computed from an image's width (``a > 32``), not known before the
    run: on_true inverts a blue image twice, on_false upscales a red one with a loaded model."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a > 32", "values.a": ["2", 0]}},
        "4": image(BLUE),
        "5": {"class_type": UNSUPPORTED, "inputs": {"image": ["4", 0]}},
        "6": {"class_type": UNSUPPORTED, "inputs": {"image": ["5", 0]}},
        "7": image(RED),
        "8": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "x.safetensors"}},
        "9": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["8", 0], "image": ["7", 0]}},
        "10": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["3", 2], "on_true": ["6", 0],
                                                           "on_false": ["9", 0]}},
        "11": {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}},
    }


@pytest.mark.parametrize("background", [False, True])
def test_a_computed_choice_skips_the_untaken_branch_at_run_time(tmp_path, calls, background):
    graph = build(from_data(computed_prompt(width=16), "computed.json"))  # 16 > 32 is false
    plan = make_plan(graph)
    assert plan.untaken == {} and "10" not in plan.chosen  # not known before the run
    assert plan.order.index("3") < min(plan.order.index(n) for n in ("4", "5", "6", "7", "8", "9"))
    result = run_plan(graph, plan, ExecContext(output_dir=tmp_path), background=background)
    assert calls == {"UpscaleModelLoader": 1, "ImageUpscaleWithModel": 1}  # the inverts never ran
    assert set(result.skipped) == {"4", "5", "6"} and not set(result.skipped) & set(result.executed)
    assert result.outputs["11"][0][0, 0, 0].tolist() == [1.0, 0.0, 0.0]  # red, through the upscale


@pytest.mark.parametrize("background", [False, True])
def test_the_other_computed_choice_never_starts_the_loader(tmp_path, calls, background):
    graph = build(from_data(computed_prompt(width=64), "computed.json"))  # 64 > 32
    result = run_plan(graph, make_plan(graph), ExecContext(output_dir=tmp_path), background=background)
    assert calls == {UNSUPPORTED: 2}  # the model loader (a background one) was never started
    assert set(result.skipped) == {"7", "8", "9"}
    assert result.outputs["11"][0][0, 0, 0].tolist() == [0.0, 0.0, 1.0]  # blue, inverted twice


def test_a_node_the_other_branch_also_uses_still_runs(tmp_path, calls):
    prompt = computed_prompt(width=16)
    prompt["12"] = {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "also"}}
    graph = build(from_data(prompt, "computed.json"))
    result = run_plan(graph, make_plan(graph), ExecContext(output_dir=tmp_path))
    assert calls[UNSUPPORTED] == 1 and set(result.skipped) == {"6"}  # 5 feeds the SaveImage too


def test_constant_nodes_decide_through_a_math_expression_and_a_kjnodes_switch():
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
        "2": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 2 >= 10", "values.a": ["1", 0]}},
        "3": image(RED),
        "4": image(BLUE),
        "5": {"class_type": "LazySwitchKJ", "inputs": {"switch": ["2", 2], "on_true": ["3", 0], "on_false": ["4", 0]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    }
    plan = make_plan(build(from_data(prompt, "kj.json")))
    assert set(plan.untaken) == {"4"} and plan.chosen == {"5": {"on_true"}}


def test_the_wan22_template_plans_its_lora_loaders_only_with_the_4_step_switch():
    import comfyui_workflow_templates_json
    from pathlib import Path

    path = Path(comfyui_workflow_templates_json.__file__).parent / "templates" / "video_wan2_2_14B_i2v.json"
    data = json.loads(path.read_text())
    loras = {"129:101", "129:102"}
    graph = build(from_data(data, str(path)))
    assert all(graph.node(n).class_type == "LoraLoaderModelOnly" for n in loras)
    plan = make_plan(graph)  # the template saves "Enable 4steps LoRA?" off
    assert loras <= set(plan.untaken) and not loras & set(plan.order)
    apply_overrides(graph, [Override.parse("129:131.value=true")])
    flipped = make_plan(graph)
    assert loras <= set(flipped.order) and not loras & set(flipped.untaken)


def test_a_constant_choice_in_a_loop_body_holds_in_every_iteration():
    # Easy-Use for-loop over 5 passes; the KJNodes switch is a widget: value * 2 each pass
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
        "4": {"class_type": "easy forLoopStart", "inputs": {"total": 5, "initial_value1": ["1", 0]}},
        "6": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 2", "values.a": ["4", 2]}},
        "7": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a + 7", "values.a": ["4", 2]}},
        "8": {"class_type": "LazySwitchKJ", "inputs": {"switch": True, "on_true": ["6", 1], "on_false": ["7", 1]}},
        "10": {"class_type": "easy forLoopEnd", "inputs": {"flow": ["4", 0], "initial_value1": ["8", 0]}},
    }
    graph = build(from_data(prompt, "loop.json"))
    plan = make_plan(graph, ["10"])
    assert set(plan.untaken) == {"7"}
    result = run_plan(graph, plan, ExecContext())
    assert result.outputs["10"][0] == 1 * 2 ** 5 and result.executed.count("6") == 5 and "7" not in result.executed


@pytest.mark.parametrize("boolean, taken, untaken", [(True, "3", "4"), (False, "4", "3"), ("yes", None, None)])
def test_crystools_switch_reads_what_its_boolean_chooses(boolean, taken, untaken):
    prompt = {"3": image(RED), "4": image(BLUE),
              "5": {"class_type": "Switch image [Crystools]",
                    "inputs": {"boolean": boolean, "on_true": ["3", 0], "on_false": ["4", 0]}},
              "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}}
    plan = make_plan(build(from_data(prompt, "crystools.json")))
    if taken is None:  # not a boolean: both run, and the switch names it
        assert plan.untaken == {} and {"3", "4"} <= set(plan.order)
    else:
        assert set(plan.untaken) == {untaken} and taken in plan.order


def test_the_output_cache_follows_the_choice(tmp_path, calls):
    from wfrun.engine.run import OutputCache

    cache = OutputCache()
    first = build(from_data(computed_prompt(width=16), "computed.json"))
    run_plan(first, make_plan(first), ExecContext(output_dir=tmp_path), cache)
    again = run_plan(first, make_plan(first), ExecContext(output_dir=tmp_path), cache)
    assert set(again.skipped) == {"4", "5", "6"} and {"9", "10"} <= set(again.cached)
    assert calls == {"UpscaleModelLoader": 1, "ImageUpscaleWithModel": 1}  # nothing ran twice
    flipped = build(from_data(computed_prompt(width=64), "computed.json"))
    result = run_plan(flipped, make_plan(flipped), ExecContext(output_dir=tmp_path), cache)
    assert "10" in result.executed and result.outputs["11"][0][0, 0, 0].tolist() == [0.0, 0.0, 1.0]
    assert calls[UNSUPPORTED] == 2 and set(result.skipped) == {"7", "8", "9"}
