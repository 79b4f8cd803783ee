"""The Wan templates that needed the core utility nodes: none of those nodes is reported
missing any more (``wfrun coverage``), and the Wan 2.1 alpha template (JoinImageWithAlpha
into an animated WEBP) runs end to end on tiny stand-ins, writing RGBA frames."""

from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates_json
from click.testing import CliRunner
from PIL import Image

from wfrun.cli import main
from wfrun.jobs.smoke import MAX_FRAMES

TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"

UTILITY_NODES = {"ColorTransfer", "ImageStitch", "RebatchImages", "LatentConcat", "LatentCut", "LatentCutToBatch",
                 "JoinImageWithAlpha", "CreateList", "CustomCombo", "RegexExtract", "PreviewAny",
                 "SkipLayerGuidanceDiTSimple", "TrimAudioDuration", "AudioConcat"}
USERS = ["video_wan2.1_alpha_t2v_14B", "video_wan21_scail2_character_replacement", "video_wan2_1_infinitetalk",
         "video_wan2_2_14B_s2v", "video_wan_animate2", "video_wan_animate2_distilled", "video_wan_dancer"]


def test_no_template_misses_a_utility_node_any_more():
    files = [str(TEMPLATES / f"{name}.json") for name in USERS]
    result = CliRunner().invoke(main, ["coverage", "--format", "json", *files])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    missing = {entry["type"] for entry in report["node_types"]}
    assert not missing & UTILITY_NODES, missing & UTILITY_NODES
    alpha = next(f for f in report["files"] if f["file"].endswith("video_wan2.1_alpha_t2v_14B.json"))
    assert alpha["supported"] and not alpha["blocking"]


def test_alpha_template_writes_rgba_frames(tmp_path):
    path = TEMPLATES / "video_wan2.1_alpha_t2v_14B.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    written = [Path(p) for p in json.loads(result.stdout)["written"] if p.endswith(".webp")]
    assert len(written) == 1
    with Image.open(written[0]) as image:
        assert image.mode == "RGBA" and image.n_frames == MAX_FRAMES
