"""A workflow in API format (what ComfyUI queues) runs as its UI-format original does:
same nodes, same values, the same video frame for frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.jobs.run import RunOptions, run_file
from wfrun.media.video import iter_frames

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "wan_t2v_tiny.json": ["37.num_frames=5", "37.width=64", "37.height=64", "27.steps=2"],
    "wan_i2v_endframe_tiny.json": ["76.width=64", "76.height=64", "89.num_frames=5", "27.steps=2"],
}


def frames_of(report) -> np.ndarray:
    [video] = [p for p in report.result.written if p.suffix == ".mp4"]
    return np.stack(list(iter_frames(video)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_api_export_runs_like_the_ui_file(tiny_models, tmp_path, name):
    ui_file = ROOT / "workflows" / name
    converted = CliRunner().invoke(main, ["convert", str(ui_file), "--to", "api"])
    assert converted.exit_code == 0, converted.output
    api_file = tmp_path / "api.json"
    api_file.write_text(converted.stdout, encoding="utf-8")
    assert "nodes" not in json.loads(api_file.read_text())  # really the API layout

    def run(path: Path, out: str):
        options = RunOptions(models_dir=str(tiny_models), output_dir=tmp_path / out, overrides=CASES[name],
                             input_dir=ROOT / "workflows" / "input", device="cpu")
        return run_file(path, options)

    ui, api = run(ui_file, "ui"), run(api_file, "api")
    assert [ui.prepared.graph.node(n).class_type for n in ui.result.executed] == \
           [api.prepared.graph.node(n).class_type for n in api.result.executed]
    np.testing.assert_array_equal(frames_of(api), frames_of(ui))
