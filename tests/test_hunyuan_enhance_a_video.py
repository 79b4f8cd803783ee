"""HyVideoEnhanceAVideo (the HunyuanVideo wrapper's node) feeding a WanVideoSampler: the
WanVideoWrapper's own T2V example of 2025-03-01 takes Enhance-A-Video's settings from it.

Reference: the Wan sampler of that date reads ``weight``, ``start_percent`` and ``end_percent``
from the FETAARGS dict, nothing else, so the example run with the pack's own
WanVideoEnhanceAVideo in its place, the same three values set, must give the same frames; with
the node left out (the sampler's ``feta_args`` unset) the frames differ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from run_helpers import CORPUS_WAN
from wfrun.jobs.run import RunOptions, run_file
from wfrun.media.video import iter_frames

EXAMPLE = CORPUS_WAN / "2025-03-01_66c8ebe_wanvideo_T2V_example_01.json"


def _frames(data: dict, tmp_path: Path, name: str) -> np.ndarray:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    report = run_file(path, RunOptions(output_dir=tmp_path / name, device="cpu", smoke=True))
    (video,) = [p for p in report.result.written if Path(p).suffix == ".mp4"]
    return np.stack(list(iter_frames(video)))


def _enhance_node(data: dict) -> dict:
    (node,) = [n for n in data["nodes"] if n["type"] == "HyVideoEnhanceAVideo"]
    return node


def test_hunyuan_node_gives_the_wan_node_s_enhance_a_video(tmp_path):
    saved = json.loads(EXAMPLE.read_text())
    node = _enhance_node(saved)
    assert node["widgets_values"] == [2, True, True, 0, 1] and node["mode"] == 0
    node["widgets_values"] = [4.5, False, False, 0.0, 1.0]  # a weight that shows on 2 smoke steps
    as_saved = _frames(saved, tmp_path, "hy")

    wan = json.loads(json.dumps(saved))
    swapped = _enhance_node(wan)
    swapped["type"] = "WanVideoEnhanceAVideo"
    swapped["properties"]["Node name for S&R"] = "WanVideoEnhanceAVideo"
    swapped["widgets_values"] = [4.5, 0.0, 1.0]
    assert np.array_equal(as_saved, _frames(wan, tmp_path, "wan"))

    left_out = json.loads(json.dumps(saved))
    _enhance_node(left_out)["mode"] = 4
    assert not np.array_equal(as_saved, _frames(left_out, tmp_path, "none"))
