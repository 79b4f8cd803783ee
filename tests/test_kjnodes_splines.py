"""KJNodes' SplineEditor and CreateShapeImageOnPath against values worked out by hand: the
normalisation ``(1 - y / mask_height)(max - min) + min`` on rounded points, the two output
rules by signature date, and shapes drawn on small frames pixel by pixel (Pillow's filled
rectangle covers both corner pixels), with the trailing blend written out."""

from __future__ import annotations

import json

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

EARLY, LATE = ExecContext(saved_date="2025-06-09"), ExecContext(saved_date="2026-03-30")


def spline(ctx, coordinates, **inputs):
    base = dict(coordinates=json.dumps(coordinates), mask_width=4, mask_height=100, float_output_type="list",
                repeat_output=1, min_value=0.0, max_value=1.0)
    return node("SplineEditor")(ctx, **{**base, **inputs})


def test_spline_editor_rounds_and_normalises_the_saved_points():
    points = [{"x": 10.4, "y": 25.5}, {"x": 3.6, "y": 100}]
    mask, coord_str, floats, count, normalized = spline(EARLY, points, repeat_output=2, max_value=2.0)
    assert json.loads(coord_str) == [{"x": 10, "y": 26}, {"x": 4, "y": 100}]  # round(25.5) is 26
    assert floats == pytest.approx([1.48, 0.0, 1.48, 0.0])
    assert count == 4  # before 2025-12: the length of the float list
    assert mask.shape == (4, 100, 4)
    assert [float(m[0, 0]) for m in mask] == pytest.approx([1.48, 0.0, 1.48, 0.0])
    flat = [v for point in json.loads(normalized) for v in (point["x"], point["y"])]
    assert flat == pytest.approx([1.8, 1.48, 1.92, 0.0])
    (tensor,) = spline(EARLY, points, float_output_type="tensor")[2:3]
    assert isinstance(tensor, torch.Tensor) and tensor.tolist() == pytest.approx([0.74, 0.0])


def test_spline_editor_several_splines_by_signature_date():
    splines = [[{"x": 0, "y": 0}], [{"x": 0, "y": 50}, {"x": 1, "y": 100}]]
    early = spline(EARLY, splines)
    late = spline(LATE, splines)
    assert early[2] == late[2] == pytest.approx([1.0, 0.5, 0.0])
    assert [float(m[0, 0]) for m in early[0]] == pytest.approx([1.0, 0.5, 0.0]) and early[3] == 3
    assert [float(m[0, 0]) for m in late[0]] == pytest.approx([0.5, 0.0]) and late[3] == 1  # last spline; first's count
    assert json.loads(late[1]) == splines
    assert json.loads(spline(LATE, [{"x": 1.2, "y": 2}])[1]) == {"x": 1, "y": 2}  # one point: the point alone


def test_spline_editor_names_bad_inputs():
    for name, inputs in (("coordinates", {"coordinates": "[{"}), ("coordinates", {"coordinates": "[]"}),
                         ("coordinates", {"coordinates": '[{"x": "a", "y": 1}]'}),
                         ("float_output_type", {"float_output_type": "pandas series"})):
        with pytest.raises(NodeInputError) as err:
            node("SplineEditor")(EARLY, **{**dict(coordinates='[{"x": 1, "y": 1}]', mask_width=4, mask_height=4,
                                                  float_output_type="list", repeat_output=1), **inputs})
        assert err.value.input_name == name


def shapes(coordinates, **inputs):
    base = dict(shape="square", coordinates=coordinates, frame_width=20, frame_height=20, shape_width=4,
                shape_height=4, shape_color="white", bg_color="black", blur_radius=0.0, intensity=1.0)
    return node("CreateShapeImageOnPath")(EARLY, **{**base, **inputs})


def test_square_covers_the_pixels_around_its_centre():
    image, mask = shapes('[{"x": 10, "y": 10}]')
    expected = torch.zeros(1, 20, 20)
    expected[:, 8:13, 8:13] = 1.0  # half size 2 each side, both edges included
    assert torch.equal(mask, expected)
    assert torch.equal(image, expected[..., None].expand(-1, -1, -1, 3))


def test_trailing_adds_the_previous_frame_and_renormalises():
    track = json.dumps([{"x": 5, "y": 5}, {"x": 7, "y": 5}])
    image, mask = shapes(track, trailing=0.5, intensity=0.5, shape_color="255, 0, 0")
    assert torch.equal(image[..., 1:], torch.zeros(2, 20, 20, 2))  # red only
    first = torch.zeros(20, 20)
    first[3:8, 3:8] = 1.0
    second = torch.zeros(20, 20)
    second[3:8, 5:10] = 1.0
    blended = (second + 0.5 * first) / 1.5  # overlap 1, old only 1/3, new only 2/3
    torch.testing.assert_close(mask[0], 0.5 * first)
    torch.testing.assert_close(mask[1], 0.5 * blended)


def test_every_track_is_drawn_and_size_multipliers_apply_per_frame():
    tracks = [json.dumps([{"x": 3, "y": 3}, {"x": 3, "y": 3}]), json.dumps([{"x": 15, "y": 15}, {"x": 15, "y": 15}])]
    _, mask = shapes(tracks, size_multiplier=[1.0, 2.0])
    assert float(mask[0, 3, 3]) == 1.0 and float(mask[0, 15, 15]) == 1.0
    assert float(mask[0, 3, 6]) == 0.0 and float(mask[1, 3, 6]) == 1.0  # 8 wide in frame 2: 3 +- 4
    _, same = shapes(tracks, size_multiplier=[2.0])  # not one per frame: ignored, as in the pack
    assert float(same[1, 3, 6]) == 0.0


def test_circle_and_triangle_shapes():
    _, circle = shapes('[{"x": 10, "y": 10}]', shape="circle", shape_width=10, shape_height=10)
    assert float(circle[0, 10, 10]) == 1.0 and float(circle[0, 5, 5]) == 0.0 and float(circle[0, 10, 5]) == 1.0
    _, triangle = shapes('[{"x": 10, "y": 10}]', shape="triangle", shape_width=10, shape_height=10)
    assert float(triangle[0, 14, 6]) == 1.0 and float(triangle[0, 6, 6]) == 0.0 and float(triangle[0, 6, 10]) == 1.0


def test_create_shape_names_bad_inputs():
    for name, inputs in (("coordinates", {"coordinates": "nope"}), ("shape_color", {"shape_color": "not a colour"}),
                         ("shape", {"shape": "star"}),
                         ("coordinates", {"coordinates": ['[{"x": 1, "y": 1}, {"x": 2, "y": 2}]',
                                                          '[{"x": 1, "y": 1}]']})):
        with pytest.raises(NodeInputError) as err:
            shapes('[{"x": 1, "y": 1}]' if "coordinates" not in inputs else inputs.pop("coordinates"), **inputs)
        assert err.value.input_name == name
