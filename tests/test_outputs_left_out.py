"""An output that fails ComfyUI's input checks is left out and the others run, as ComfyUI's
``validate_prompt`` runs its good outputs: a preview whose image input is not connected no
longer stops a workflow whose video is fine. Other problems still stop the whole run."""

from __future__ import annotations

import json

import pytest

from wfrun.jobs.run import JobError, RunOptions, execute, prepare


def _prompt(tmp_path, nodes: dict) -> str:
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps(nodes), encoding="utf-8")
    return str(path)


IMAGE = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}
SAVE = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "kept"}}


def test_an_output_missing_an_input_is_left_out_and_the_others_run(tmp_path):
    path = _prompt(tmp_path, {"1": IMAGE, "2": SAVE, "3": {"class_type": "PreviewImage", "inputs": {}}})
    options = RunOptions(device="cpu", output_dir=tmp_path / "out")
    prepared = prepare(path, options)
    assert prepared.plan.outputs == ["2"] and "3" not in prepared.plan.order
    [notice] = [d for d in prepared.warnings if d.code == "output-left-out"]
    assert notice.node_id == "3" and "input 'images'" in notice.message and "is not connected" in notice.message
    report = execute(prepared, options)
    assert [p.name for p in report.result.written] == ["kept_00001_.png"]


def test_a_node_both_outputs_need_failing_leaves_nothing_to_run(tmp_path):
    broken = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}  # no color
    path = _prompt(tmp_path, {"1": broken, "2": SAVE, "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}})
    with pytest.raises(JobError) as err:
        prepare(path, RunOptions(device="cpu", output_dir=tmp_path / "out"))
    assert any(d.code == "missing-input" and d.node_id == "1" for d in err.value.diagnostics)


def test_another_kind_of_problem_still_stops_the_whole_run(tmp_path):
    path = _prompt(tmp_path, {"1": IMAGE, "2": SAVE, "3": {"class_type": "PreviewImage", "inputs": {}},
                              "4": {"class_type": "NoSuchNodeAnywhere", "inputs": {"images": ["1", 0]}},
                              "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "x"}}})
    with pytest.raises(JobError) as err:
        prepare(path, RunOptions(device="cpu", output_dir=tmp_path / "out"))
    codes = {d.code for d in err.value.diagnostics}
    assert "unknown-node" in codes and "missing-input" in codes


def test_a_model_with_no_tiny_stand_in_is_not_a_reason_to_leave_an_output_out(tmp_path):
    """Under --tiny-models a model wfrun cannot stand in for (here a pickle) is wfrun's limit,
    not a problem of the file: the run is refused whole, as before, rather than run in part."""
    vae = {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.pth"}}
    decode = {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["6", 0]}}
    latent = {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 64, "height": 64, "length": 1,
                                                                  "batch_size": 1}}
    path = _prompt(tmp_path, {"1": IMAGE, "2": SAVE, "6": vae, "7": latent, "8": decode,
                              "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "v"}}})
    with pytest.raises(JobError) as err:
        prepare(path, RunOptions(device="cpu", tiny_models=True, output_dir=tmp_path / "out"))
    assert any(d.code == "missing-model" and d.node_id == "6" for d in err.value.diagnostics)
