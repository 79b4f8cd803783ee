"""KJNodes' ``PointsEditor``: what the canvas widget saved turned into the pack's outputs
(coordinate strings, boxes, box mask, crop), following the pack's code at the versions the
Animate workflows were saved with, slips included."""

from __future__ import annotations

import json

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

run = node("PointsEditor")


def _call(**inputs):
    base = dict(points_store="{}", coordinates="[]", neg_coordinates="[]", bbox_store="[]", bboxes="[]",
                bbox_format="xyxy")
    return run(ExecContext(), **{**base, **inputs})


def test_points_are_rounded_half_to_even_or_normalised():
    coords = json.dumps([{"x": 2.5, "y": 3.5}, {"x": 543.67, "y": 96.2}])
    pos, neg, _, _, _ = _call(coordinates=coords, neg_coordinates=json.dumps([{"x": 0, "y": 0}]))
    assert json.loads(pos) == [{"x": 2, "y": 4}, {"x": 544, "y": 96}]
    assert pos == '[{"x": 2, "y": 4}, {"x": 544, "y": 96}]'  # Python's json.dumps spacing, as the pack
    assert json.loads(neg) == [{"x": 0, "y": 0}]
    pos, _, _, _, _ = _call(coordinates=coords, normalize=True, width=100, height=200)
    assert json.loads(pos) == [{"x": 2 / 100, "y": 4 / 200}, {"x": 544 / 100, "y": 96 / 200}]


def test_empty_negative_text_is_passed_on_as_a_json_string():
    _, neg, _, _, _ = _call(coordinates='[{"x": 1, "y": 1}]', neg_coordinates="")
    assert neg == '""'


def test_boxes_give_corners_a_mask_and_a_crop_of_the_first():
    image = torch.rand(2, 64, 80, 3)
    boxes = json.dumps([{"startX": 30.7, "startY": 40, "endX": 10, "endY": 5},
                        {"startX": None, "startY": 1, "endX": 2, "endY": 3},
                        {"startX": 50, "startY": 50, "endX": 60, "endY": 55}])
    _, _, bbox, mask, cropped = _call(bboxes=boxes, width=80, height=64, bg_image=image)
    assert bbox == [(10, 5, 30, 40), (50, 50, 60, 55)]
    expected = torch.zeros(1, 64, 80)
    expected[0, 5:40, 10:30] = 1
    expected[0, 50:55, 50:60] = 1
    torch.testing.assert_close(mask, expected)
    torch.testing.assert_close(cropped, image[:, 5:40, 10:30])


def test_xywh_boxes_and_the_packs_slips():
    boxes = json.dumps([{"startX": 10, "startY": 20, "endX": 30, "endY": 60}])
    image = torch.rand(1, 64, 64, 3)
    _, _, bbox, mask, cropped = _call(bboxes=boxes, bbox_format="xywh", width=64, height=64, bg_image=image)
    assert bbox == [(10, 20, 20, 40)]
    assert mask[0, 20:60, 10:30].all() and mask.sum() == 20 * 40
    torch.testing.assert_close(cropped, image[:, 20:40, 10:20])  # (x, y, w, h) read as corners
    _, _, _, mask, cropped = _call(bboxes=boxes, bbox_format="xywh", width=64, height=64)
    assert mask.shape == (1, 64, 64) and cropped.shape == (1, 40, 20, 3)  # the last box's size


def test_no_usable_box_passes_the_saved_list_and_the_whole_image():
    image = torch.rand(3, 32, 48, 3)
    _, _, bbox, mask, cropped = _call(bboxes="[{}]", width=48, height=32, bg_image=image)
    assert bbox == [{}] and not mask.any() and mask.shape == (1, 32, 48)
    assert cropped is image
    _, _, bbox, _, cropped = _call(width=48, height=32)
    assert bbox == [] and torch.equal(cropped, torch.zeros(1, 32, 48, 3))


def test_bad_text_and_old_signatures_are_clear_errors():
    with pytest.raises(NodeInputError) as err:
        _call(coordinates="[{x: 1}]")
    assert err.value.input_name == "coordinates"
    with pytest.raises(NodeInputError):
        _call(coordinates='[{"x": "a", "y": 1}]')
    with pytest.raises(NodeInputError) as err:
        run(ExecContext(), points_store="{}", coordinates="[]", bbox_format="xyxy")
    assert "2024-08-04" in str(err.value)
