"""VHS_VideoCombine saved as a plain list of its widgets (set4 010: a frontend that skipped
VHS's own dict serialization): VHS's JavaScript splices the chosen format's widgets in right
after ``format`` (``formatWidgetIndex``), in the order of the format's JSON file
(``iterate_format``: ``main_pass`` widgets, then ``save_metadata``, ``trim_to_audio``, the
latter in the formats since 2024-12-12), so the list is read in that order."""

from __future__ import annotations

import torch

from node_helpers import node
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.media import video as mv
from wfrun.nodes.executor import ExecContext
from wfrun.specs.registry import default_registry

SAVED = [32, 0, "WanAnimate/Wanimate", "video/h264-mp4", "yuv420p", 19, True, False, False, True]


def _graph(values):
    data = {"nodes": [{"id": 186, "type": "VHS_VideoCombine", "mode": 0, "widgets_values": values,
                       "inputs": [{"name": "images", "type": "IMAGE", "link": None}],
                       "outputs": [{"name": "Filenames", "type": "VHS_FILENAMES", "links": None}]}],
            "links": [], "version": 0.4}
    return build(from_data(data, "vhs.json"), default_registry())


def test_a_list_save_binds_the_format_widgets_after_format():
    combine = _graph(SAVED).node("186")
    assert combine.binding.fit == "exact"
    assert {k: combine.inputs[k] for k in ("frame_rate", "loop_count", "filename_prefix", "format", "pingpong",
                                           "save_output")} == {
        "frame_rate": 32, "loop_count": 0, "filename_prefix": "WanAnimate/Wanimate", "format": "video/h264-mp4",
        "pingpong": False, "save_output": True}
    assert {k: v for k, v in combine.inputs.items() if k.startswith("format.")} == {
        "format.pix_fmt": "yuv420p", "format.crf": 19, "format.save_metadata": True, "format.trim_to_audio": False}


def test_a_list_of_a_format_without_widgets_and_the_old_six_value_list_still_bind():
    gif = _graph([8, 0, "anim", "image/gif", True, False]).node("186")
    assert gif.binding.fit == "exact" and (gif.inputs["pingpong"], gif.inputs["save_output"]) == (True, False)
    webm = _graph([8, 0, "clip", "video/webm", "yuva420p", 30, False, True, False, True]).node("186")
    assert webm.binding.fit == "exact" and webm.inputs["format.pix_fmt"] == "yuva420p"
    assert webm.inputs["format.trim_to_audio"] is True and webm.inputs["pingpong"] is False


def test_the_bound_format_widgets_reach_the_encoder(tmp_path):
    ctx = ExecContext(output_dir=tmp_path / "out", workflow_json={"nodes": [], "links": []})
    images = torch.rand(3, 32, 48, 3)
    (result,) = node("VHS_VideoCombine")(ctx, images=images, frame_rate=8, loop_count=0, filename_prefix="w",
                                         format="video/h264-mp4", pingpong=False, save_output=True,
                                         **{"format.pix_fmt": "yuv420p10le", "format.crf": 30,
                                            "format.save_metadata": False, "format.trim_to_audio": False})
    info = mv.probe(result[1][-1])
    assert info.codec == "h264" and info.frame_count == 3
    assert "workflow" not in mv.read_metadata(result[1][-1])  # save_metadata False reached the writer
