"""ComfyUI's own Wan templates (Wan 2.1 and 2.2: text, image, first-last frame, Fun InP,
control and camera, TI2V-5B, VACE) run end to end with ``wfrun run TEMPLATE --smoke``: the
real loaders on tiny stand-ins of the files they name, the KSampler family, the VAE, and
a video with the frame count the workflow asks for after the smoke caps (its 33-121 frames
capped to ``MAX_FRAMES``, sizes to ``MAX_SIDE``)."""

from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates_json
import pytest
from click.testing import CliRunner
from PIL import Image

from wfrun.cli import main
from wfrun.jobs.smoke import MAX_FRAMES, MAX_SIDE
from wfrun.media.video import iter_frames

TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"

#: The Wan templates of issue 13, Wan 2.1 and 2.2.
WAN_TEMPLATES = [
    "text_to_video_wan", "image_to_video_wan", "wan2.1_flf2v_720_f16", "wan2.1_fun_control", "wan2.1_fun_inp",
    "video_wan2.1_fun_camera_v1.1_1.3B", "video_wan2.1_fun_camera_v1.1_14B", "video_wan2_2_14B_t2v",
    "video_wan2_2_14B_i2v", "video_wan2_2_14B_flf2v", "video_wan2_2_14B_fun_control", "video_wan2_2_14B_fun_inpaint",
    "video_wan2_2_14B_fun_camera", "video_wan2_2_5B_ti2v", "video_wan2_2_5B_fun_control",
    "video_wan2_2_5B_fun_inpaint", "video_wan_vace_14B_t2v", "video_wan_vace_14B_ref2v", "video_wan_vace_14B_v2v",
    "video_wan_vace_flf2v", "video_wan_vace_inpainting", "video_wan_vace_outpainting",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One WFRUN_CACHE for the module: each stand-in model is written once."""
    return tmp_path_factory.mktemp("wfrun-cache")


@pytest.mark.parametrize("name", WAN_TEMPLATES)
def test_template_runs_end_to_end(name, tmp_path, cache):
    path = TEMPLATES / f"{name}.json"
    before = path.read_bytes()
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    videos = [Path(p) for p in report["written"] if Path(p).suffix in (".mp4", ".webm")]
    assert videos, report["written"]
    for video in videos:
        frames = list(iter_frames(video))
        assert len(frames) == MAX_FRAMES, (video.name, len(frames))
        height, width = frames[0].shape[:2]
        assert 16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE, (video.name, width, height)
    assert path.read_bytes() == before  # the template is not touched


def test_nodes_wfrun_cannot_run_are_named_with_their_pack(tmp_path, cache):
    """A partner API node (the work happens on a vendor's servers) can never run here: the
    run stops before loading anything and says what kind of node it is."""
    path = TEMPLATES / "api_wan_text_to_video.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--dry-run", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 1
    assert ("node 2 'Wan Text to Video' (WanTextToVideoApi, pack comfy-core): a partner API node, run by a "
            "paid cloud service") in result.output
    assert "wfrun only runs models on this machine" in result.output
    assert "Traceback" not in result.output


def test_bernini_video_editing_template_runs_end_to_end(tmp_path, cache):
    """Bernini-R video editing: LoadVideo, Video Slice, BerniniConditioning's source stream
    on a tiny Wan 2.2 A14B pair, CreateVideo and SaveVideo; the edited clip keeps the
    stand-in's frames (its frame count sizes the conditioning)."""
    path = TEMPLATES / "video_bernini_r_video_editing.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    videos = [Path(p) for p in json.loads(result.stdout)["written"] if p.endswith(".mp4")]
    assert len(videos) == 1 and len(list(iter_frames(videos[0]))) == MAX_FRAMES


def test_bernini_image_editing_template_runs_end_to_end(tmp_path, cache):
    """Bernini-R image editing: one frame with the source image as its stream, saved as a
    PNG; ImageCompare writes the source and the result as previews in the temp folder."""
    path = TEMPLATES / "video_bernini_r_image_editing.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    written = [Path(p) for p in json.loads(result.stdout)["written"]]
    saved = [p for p in written if p.name.startswith("Bernini-R_")]
    previews = sorted(p.name[:15] for p in written if p.parent.name == "temp")
    assert len(saved) == 1 and saved[0].suffix == ".png"
    assert previews == ["comfy.compare.a", "comfy.compare.b"]
    with Image.open(saved[0]) as image:
        assert max(image.size) <= MAX_SIDE
