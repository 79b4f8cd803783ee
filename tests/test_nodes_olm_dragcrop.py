"""OlmDragCrop: the saved rectangle on the image size it was drawn for, the whole image
otherwise, the mask cut and padded as the pack does, and CROP_JSON; plus a file saved at
5e286e8 (17 widget values: the node's nine and eight of its frontend's) binding by name."""

from __future__ import annotations

import json

import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext
from wfrun.specs.registry import default_registry

SAVED = dict(crop_left=2, crop_right=9, crop_top=1, crop_bottom=7, crop_width=4, crop_height=3, last_width=8,
             last_height=6)


def test_the_rectangle_is_cut_from_each_frame_and_the_mask():
    image = torch.arange(2 * 6 * 8 * 3, dtype=torch.float32).reshape(2, 6, 8, 3)
    mask = torch.rand(1, 6, 8)
    out, m, crop_json = node("OlmDragCrop")(ExecContext(), image=image, mask=mask, **SAVED)
    assert torch.equal(out, image[:, 1:4, 2:6])
    assert m.shape == (2, 3, 4) and torch.equal(m[0], mask[0, 1:4, 2:6]) and torch.equal(m[1], mask[0, 1:4, 2:6])
    assert json.loads(crop_json) == {"left": 2, "top": 1, "right": 9, "bottom": 7, "width": 4, "height": 3,
                                     "original_size": [8, 6], "cropped_size": [4, 3], "reset_crop_ui": False}


def test_another_image_size_or_a_rectangle_outside_gives_the_whole_image():
    image = torch.rand(1, 10, 8, 3)  # drawn on 8 x 6
    out, m, crop_json = node("OlmDragCrop")(ExecContext(), image=image, **SAVED)
    assert torch.equal(out, image) and m.shape == (1, 10, 8) and m.eq(0).all()
    assert json.loads(crop_json)["reset_crop_ui"] is True and json.loads(crop_json)["right"] == 0
    image = torch.rand(1, 6, 8, 3)
    out, _, _ = node("OlmDragCrop")(ExecContext(), image=image, **{**SAVED, "crop_width": 7})  # 2 + 7 > 8
    assert torch.equal(out, image)


def test_a_smaller_mask_is_cut_to_its_size_and_laid_top_left():
    image = torch.rand(1, 6, 8, 3)
    mask = torch.ones(1, 3, 4)  # covers rows 1..2 and columns 2..3 of the rectangle
    _, m, _ = node("OlmDragCrop")(ExecContext(), image=image, mask=mask, **SAVED)
    expected = torch.zeros(1, 3, 4)
    expected[:, :2, :2] = 1
    assert torch.equal(m, expected)


def test_the_files_seventeen_values_bind_to_the_nodes_inputs():

    spec = default_registry().get("OlmDragCrop")
    names = [i.name for i in spec.latest.inputs if i.is_widget]
    values = [1759890516734, 690, 1247, 808, 2137, 1087, 1087, 3024, 4032, "none", "1", True, "set_ratio",
              "refresh", None, "Lime", "reset"]
    assert len(names) == len(values)
    assert dict(zip(names, values))["last_height"] == 4032 and names[9] == "Snap to"
    assert [o.name for o in spec.latest.outputs] == ["IMAGE", "MASK", "CROP_JSON"]



def test_a_number_in_a_text_widget_is_a_warning_as_comfyui_reads_it_as_text(tmp_path):
    """ComfyUI's validation passes a STRING input through str(); the frontend of this pack
    saves a timestamp number in drawing_version."""
    from click.testing import CliRunner

    from wfrun.cli import main

    doc = {"last_node_id": 2, "last_link_id": 1, "version": 0.4, "links": [[1, 1, 0, 2, 0, "IMAGE"]],
           "nodes": [{"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [],
                      "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
                      "widgets_values": [8, 6, 1, 0]},
                     {"id": 2, "type": "OlmDragCrop", "mode": 0,
                      "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
                      "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
                      "properties": {"aux_id": "o-l-l-i/ComfyUI-Olm-DragCrop",
                                     "ver": "5e286e835bb6b36e610ee657e51e770a9eae207d"},
                      "widgets_values": [1759890516734, 2, 9, 1, 7, 4, 3, 8, 6, "none", "1", True, "set_ratio",
                                         "refresh", None, "Lime", "reset"]}]}
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["validate", str(path), "--format", "json"])
    problems = [d for d in json.loads(result.stdout)["files"][0]["diagnostics"] if d.get("node_id") in (2, "2")]
    assert [(d["code"], d["severity"]) for d in problems] == [("wrong-value-type", "warning")], problems
