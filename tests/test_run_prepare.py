"""``wfrun run`` before any weight loads: overrides, checks, unsupported nodes, dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.jobs.run import JobError, RunOptions, prepare
from wfrun.engine.overrides import Override, OverrideError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"


def options(tiny_models, **kw) -> RunOptions:
    return RunOptions(models_dir=str(tiny_models), **kw)


def test_override_parsing():
    assert Override.parse("27.steps=8") == Override("27", "steps", 8)
    assert Override.parse("WanVideo Sampler.cfg=2.5") == Override("WanVideo Sampler", "cfg", 2.5)
    assert Override.parse("16.positive_prompt=a cat").value == "a cat"
    with pytest.raises(OverrideError):
        Override.parse("steps=8")


def test_overrides_by_id_and_title_are_typed_and_checked(tiny_models):
    data = json.loads(DEMO.read_text())
    sampler = next(n for n in data["nodes"] if n["type"] == "WanVideoSampler")
    p = prepare(DEMO, options(tiny_models, overrides=[f"{sampler['id']}.steps=3", "WanVideo Sampler.cfg=2"],
                              seed=7))
    node = p.graph.node(str(sampler["id"]))
    assert node.inputs["steps"] == 3 and node.inputs["cfg"] == 2.0 and isinstance(node.inputs["cfg"], float)
    assert node.inputs["seed"] == 7
    assert any("steps = 3" in line for line in p.changes)
    with pytest.raises(JobError) as err:
        prepare(DEMO, options(tiny_models, overrides=[f"{sampler['id']}.steps=many"]))
    assert "steps" in str(err.value) and "INT" in str(err.value)
    with pytest.raises(JobError) as err:
        prepare(DEMO, options(tiny_models, overrides=[f"{sampler['id']}.nosuch=1"]))
    assert "has no input 'nosuch'" in str(err.value)
    with pytest.raises(JobError) as err:  # checked like a saved value: out of range
        prepare(DEMO, options(tiny_models, overrides=[f"{sampler['id']}.cfg=99"]))
    assert any(d.code == "out-of-range" for d in err.value.diagnostics)


def test_frame_count_problem_stops_before_loading(tiny_models):
    data = json.loads(DEMO.read_text())
    embeds = next(n for n in data["nodes"] if n["type"] == "WanVideoEmptyEmbeds")
    with pytest.raises(JobError) as err:
        prepare(DEMO, options(tiny_models, overrides=[f"{embeds['id']}.num_frames=18"]))
    assert [d.code for d in err.value.diagnostics] == ["frame-count"]


def test_missing_models_folder_lists_every_missing_file(tmp_path):
    (tmp_path / "models").mkdir()
    with pytest.raises(JobError) as err:
        prepare(DEMO, RunOptions(models_dir=str(tmp_path / "models")))
    missing = [d for d in err.value.diagnostics if d.code == "missing-model"]
    assert {d.input for d in missing} >= {"model", "model_name"} and len(missing) >= 3


def test_missing_input_images_and_videos_stop_before_loading(tiny_models, tmp_path):
    workflows = ROOT / "workflows"
    for name in ("wan_i2v_endframe_tiny.json", "wan_fun_control_tiny.json"):  # their bundled inputs are found
        prepare(workflows / name, options(tiny_models))
    with pytest.raises(JobError) as err:
        prepare(workflows / "wan_i2v_endframe_tiny.json", options(tiny_models, input_dir=tmp_path))
    problems = sorted((d.node_id, d.input, d.found) for d in err.value.diagnostics)
    assert problems == [("58", "image", "start.png"), ("63", "image", "end.png")]
    assert all(d.code == "missing-input-file" and "--input" in d.hint for d in err.value.diagnostics)
    with pytest.raises(JobError) as err:  # VHS names are stripped of quotes, as the node does
        prepare(workflows / "wan_fun_control_tiny.json",
                options(tiny_models, input_dir=tmp_path, overrides=['71.video="../control.mp4"']))
    [problem] = err.value.diagnostics
    assert problem.input == "video" and "'..' are refused" in problem.message


def test_unsupported_nodes_are_listed_together(tiny_models, tmp_path):
    data = json.loads(DEMO.read_text())
    sampler = next(n for n in data["nodes"] if n["type"] == "WanVideoSampler")
    sampler["type"] = "WanVideoSamplerNotReal"
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data))
    with pytest.raises(JobError):
        prepare(path, options(tiny_models))


def test_dry_run_cli_lists_plan_models_and_estimate(tiny_models):
    result = CliRunner().invoke(main, ["run", str(DEMO), "--models", str(tiny_models), "--dry-run",
                                       "--format", "json"])
    if result.exit_code != 0:
        pytest.fail(result.output)
    report = json.loads(result.stdout)
    types = [n["type"] for n in report["plan"]["order"]]
    assert types.index("WanVideoModelLoader") < types.index("WanVideoSampler") < types.index("WanVideoDecode")
    assert {m["input"] for m in report["models"]} >= {"model", "model_name"}
    assert all(Path(m["path"]).is_file() for m in report["models"])
    assert report["estimate"]["weights_bytes"] == sum(m["bytes"] for m in report["models"])
    assert report["estimate"]["max_tokens"] == ((17 - 1) // 4 + 1) * (192 // 16) * (320 // 16)
    assert "written" not in report


def test_run_cli_usage_errors(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["run", str(DEMO), "--models", str(tmp_path / "nope")])
    assert result.exit_code == 2


def test_gpu_memory_budget_reaches_the_models_residency(tmp_path, monkeypatch):
    """``--gpu-memory 24`` makes residency decide as on a 24 GiB card for the whole job,
    and only for it; a budget under 1 GiB is a usage error."""
    from wfrun.models import residency

    seen = []  # the budget in force where the job decides whether loaders may run ahead
    monkeypatch.setattr("wfrun.jobs.run.loads_can_overlap",
                        lambda p, device: seen.append(residency._BUDGET) or False)
    result = CliRunner().invoke(main, ["run", str(DEMO), "--smoke", "--device", "cpu", "--gpu-memory", "24",
                                       "-o", str(tmp_path / "out"), "--format", "json"])
    if result.exit_code != 0:
        pytest.fail(result.output)
    assert seen and set(seen) == {24 * 2**30}
    assert residency._BUDGET is None
    result = CliRunner().invoke(main, ["run", str(DEMO), "--smoke", "--gpu-memory", "0.5"])
    assert result.exit_code == 2 and "gpu-memory" in result.output


def test_only_models_loaded_onto_the_gpu_count_against_running_loaders_ahead(tiny_models):
    """Loaders that load into host memory may run ahead whatever the card's size; a loader
    set to ``main_device`` puts its file on the GPU as it loads, and that counts."""
    from wfrun.jobs.run import gpu_bytes_at_load

    p = prepare(DEMO, options(tiny_models))
    assert gpu_bytes_at_load(p) == 0  # the demo's loaders all say offload_device
    p = prepare(DEMO, options(tiny_models, overrides=["22.load_device=main_device"]))
    model = next(m for m in p.models if m.node_id == "22")
    assert gpu_bytes_at_load(p) == model.bytes > 0


def test_dry_run_estimate_reads_the_core_nodes_length():
    """Core Wan nodes give the frame count as ``length`` (the wrapper as ``num_frames``): the
    estimate counts the tokens of WanHuMoImageToVideo's 64x48, 9 frames."""
    path = Path(__file__).resolve().parents[1] / "workflows" / "humo_core_tiny.json"
    result = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output[-2000:]
    report = json.loads(result.stdout)
    assert report["estimate"]["max_tokens"] == ((9 - 1) // 4 + 1) * (48 // 16) * (64 // 16)
