"""``--smoke`` and H.264's even sides: an odd side made from capped sizes is cut to even.

ImageStitch's ``match_image_size`` sizes one image by the other's aspect, ``int(h1 * w2 / h2)``
(ComfyUI's ``comfy_extras/nodes_images.py``): from the smoke's capped sizes that can be odd
where the full-size run is even. ComfyUI's SaveVideo (and wfrun's) writes 4:2:0 H.264, which
needs even sides; under ``--smoke`` the frames entering it lose their last column or row,
and the change is reported. Without ``--smoke`` the odd video is still refused.
"""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.graph.model import NodeInstance
from wfrun.jobs.smoke import RuntimeCaps
from wfrun.media.standins import HEIGHT
from wfrun.media.video import iter_frames
from wfrun.media.video_value import Video


def caps() -> RuntimeCaps:
    made = RuntimeCaps.__new__(RuntimeCaps)
    made.changes, made.targets = [], {}
    return made


def test_an_odd_video_entering_save_video_loses_its_last_column_and_row():
    runtime = caps()
    frames = torch.rand(3, 65, 41, 3)
    save = NodeInstance(id="9", class_type="SaveVideo", title="Save", inputs={})
    got = runtime(save, {"video": Video(frames, 16.0), "filename_prefix": "v"})["video"]
    assert torch.equal(got.images, frames[:, :64, :40]) and got.fps == 16.0
    assert "41x65 -> 40x64" in runtime.changes[0]
    even = Video(torch.rand(2, 64, 40, 3), 8.0)
    assert runtime(save, {"video": even})["video"] is even
    other = NodeInstance(id="10", class_type="GetVideoComponents", title="Parts", inputs={})
    odd = Video(frames, 16.0)
    assert runtime(other, {"video": odd})["video"] is odd  # only the writers
    assert len(runtime.changes) == 1


def stitched_prompt() -> dict:
    """A missing picture (the 64x48 stand-in) beside a 7x16 blank matched to its height:
    ``int(48 * 7 / 16)`` = 21 px, so the stitched frames are 85 px wide."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 7, "height": 16, "batch_size": 1, "color": 0}},
        "3": {"class_type": "ImageStitch", "inputs": {"image1": ["1", 0], "image2": ["2", 0], "direction": "right",
                                                      "match_image_size": True, "spacing_width": 0,
                                                      "spacing_color": "white"}},
        "4": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "fps": 8.0}},
        "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "stitched",
                                                    "format": "mp4", "codec": "h264"}},
    }


def run(tmp_path, *extra: str):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(stitched_prompt()))
    return CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "out"), "--device", "cpu", "--format",
                                     "json", *extra], env={"WFRUN_CACHE": str(tmp_path / "cache")})


def test_a_smoke_run_saves_the_stitched_video_one_column_narrower(tmp_path):
    result = run(tmp_path, "--smoke")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    video = next(p for p in report["written"] if p.endswith(".mp4"))
    frames = list(iter_frames(video))
    assert frames[0].shape[:2] == (HEIGHT, 64 + int(HEIGHT * 7 / 16) - 1)
    assert any("85x48 -> 84x48" in line for line in json.dumps(report).split('"'))


def test_without_smoke_the_odd_video_is_refused_naming_the_writer(tmp_path):
    (tmp_path / "input").mkdir()
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 100, 50)).save(tmp_path / "input" / "photo.png")
    result = run(tmp_path, "--input", str(tmp_path / "input"))
    assert result.exit_code == 1
    assert "H.264 in 4:2:0 needs an even width and height; the frames are 85x48" in result.output
