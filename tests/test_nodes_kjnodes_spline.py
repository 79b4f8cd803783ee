"""KJNodes' SplineEditor, CreateShapeImageOnPath and AppendStringsToList, against the pack's
arithmetic worked out by hand."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.spline_editor import sample_polyline

CTX = ExecContext(saved_date="2025-06-09")
LATER = dataclasses.replace(CTX, saved_date="2026-03-30")


def _pts(*xy):
    return [{"x": x, "y": y} for x, y in xy]


def _flat(points):
    return [v for p in points for v in (p["x"], p["y"])]


def spline(ctx=CTX, **inputs):
    return node("SplineEditor")(ctx, **{"points_store": "[]", "mask_width": 4, "mask_height": 100, **inputs})


def test_one_spline_rounds_points_and_normalises_by_the_height():
    coords = json.dumps(_pts((10.4, 20.5), (30.6, 75.2), (99.5, 0.49)))
    mask, coord_str, floats, count, normalized = spline(coordinates=coords, min_value=0.0, max_value=2.0)
    # round half to even: 20.5 -> 20, 99.5 -> 100
    assert json.loads(coord_str) == _pts((10, 20), (31, 75), (100, 0))
    # (1 - v / 100) * 2 for y; x is divided by the height too
    assert floats == pytest.approx([1.6, 0.5, 2.0])
    assert _flat(json.loads(normalized)) == pytest.approx([1.8, 1.6, 1.38, 0.5, 0.0, 2.0])
    assert count == 3 and mask.shape == (3, 100, 4) and torch.allclose(mask[:, 0, 0], torch.tensor([1.6, 0.5, 2.0]))


def test_repeat_and_tensor_output():
    coords = json.dumps(_pts((0, 50), (0, 100)))
    mask, _, floats, count, _ = spline(coordinates=coords, repeat_output=3, float_output_type="tensor")
    assert torch.allclose(floats, torch.tensor([0.5, 0.0] * 3)) and count == 6 and mask.shape[0] == 6
    with pytest.raises(NodeInputError) as err:
        spline(coordinates=coords, float_output_type="pandas series")
    assert err.value.input_name == "float_output_type"


def test_several_splines_before_and_after_the_first_spline_count():
    coords = json.dumps([_pts((1, 10), (2, 20), (3, 30)), _pts((4, 40), (5, 50))])
    mask, coord_str, floats, count, _ = spline(coordinates=coords)
    assert json.loads(coord_str) == [_pts((1, 10), (2, 20), (3, 30)), _pts((4, 40), (5, 50))]
    assert floats == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5])
    assert count == 5 and mask.shape[0] == 5  # to 2025-12-08: every float, masks from every spline
    mask, _, _, count, _ = spline(LATER, coordinates=coords)
    assert count == 3 and torch.allclose(mask[:, 0, 0], torch.tensor([0.6, 0.5]))  # the last spline's masks


def test_one_nested_spline_is_unwrapped_in_coord_str():
    coords = json.dumps([_pts((1, 10), (2, 20))])
    assert json.loads(spline(coordinates=coords)[1]) == _pts((1, 10), (2, 20))
    old = dataclasses.replace(CTX, saved_date="2024-10-22")
    assert json.loads(spline(old, coordinates=coords)[1]) == [_pts((1, 10), (2, 20))]


def test_linear_path_sampling_is_even_along_the_polyline():
    # an L: (0, 0) -> (30, 0) -> (30, 10), length 40; 5 samples every 10 along it
    got = sample_polyline(_pts((0.0, 0.0), (30.0, 0.0), (30.0, 10.0)), 5, "path", 100)
    assert _flat(got) == pytest.approx(_flat(_pts((0, 0), (10, 0), (20, 0), (30, 0), (30, 10))))


def test_linear_time_sampling_crosses_evenly_spaced_x():
    got = sample_polyline(_pts((0.0, 0.0), (50.0, 100.0), (100.0, 0.0)), 5, "time", 100)
    assert _flat(got) == pytest.approx(_flat(_pts((0, 0), (25, 50), (50, 100), (75, 50), (100, 0))))
    assert sample_polyline(_pts((7.0, 8.0)), 3, "path", 100) == _pts((7, 8), (7, 8), (7, 8))


def test_empty_coordinates_are_sampled_from_the_stored_points_when_linear():
    store = json.dumps([{"points": _pts((0, 0), (40, 0)), "color": "#1f77b4", "name": "Spline 1"}])
    _, coord_str, _, count, _ = spline(coordinates="", points_store=store, points_to_sample=5,
                                       sampling_method="path", interpolation="linear")
    assert json.loads(coord_str) == _pts((0, 0), (10, 0), (20, 0), (30, 0), (40, 0)) and count == 5
    with pytest.raises(NodeInputError) as err:
        spline(coordinates="", points_store=store, points_to_sample=5, sampling_method="path",
               interpolation="cardinal")
    assert err.value.input_name == "coordinates"


@pytest.mark.parametrize("coords", ["[{x: 1}]", '[{"x": "1", "y": 2}]', '{"x": 1, "y": 2}'])
def test_bad_coordinates_are_refused(coords):
    with pytest.raises(NodeInputError) as err:
        spline(coordinates=coords)
    assert err.value.input_name == "coordinates"


def shape(**inputs):
    base = dict(shape="square", frame_width=20, frame_height=10, shape_width=4, shape_height=2, shape_color="white",
                bg_color="black", blur_radius=0.0, intensity=1.0)
    return node("CreateShapeImageOnPath")(ExecContext(), **{**base, **inputs})


def test_square_on_each_point_of_every_track():
    coords = [json.dumps(_pts((5, 5), (10, 5))), json.dumps(_pts((15, 2), (15, 7)))]
    image, mask = shape(coordinates=coords)
    assert image.shape == (2, 10, 20, 3) and mask.shape == (2, 10, 20)
    # box (x - 2, y - 1) .. (x + 2, y + 1), PIL's rectangle includes both corners: 5 x 3 pixels
    want = torch.zeros(2, 10, 20)
    want[0, 4:7, 3:8] = 1
    want[0, 1:4, 13:18] = 1
    want[1, 4:7, 8:13] = 1
    want[1, 6:9, 13:18] = 1
    assert torch.equal(mask, want) and torch.equal(image[..., 1], want)


def test_size_multiplier_trailing_and_rgb_strings():
    coords = json.dumps(_pts((5, 5), (14, 5)))
    image, mask = shape(coordinates=coords, size_multiplier=[1.0, 2.0], shape_color="255, 0, 0", trailing=0.5)
    # frame 1: an 8 x 4 box (9 x 5 pixels) plus half of frame 0, divided by the maximum (1: they do not meet)
    assert image[0, 5, 5].tolist() == [1.0, 0.0, 0.0] and image[..., 1].eq(0).all()
    assert mask[1, 5, 14] == pytest.approx(1.0) and mask[1, 3, 10] == pytest.approx(1.0)
    assert mask[1, 5, 5] == pytest.approx(0.5 / 1.0)
    (_, unused) = shape(coordinates=coords, size_multiplier=[3.0])  # not one per frame: ignored
    assert unused[0].sum() == 15
    with pytest.raises(NodeInputError) as err:
        shape(coordinates=coords, shape_color="1.0, 0, 0")
    assert err.value.input_name == "shape_color"


def test_append_strings_to_list():
    (one,) = node("AppendStringsToList")(ExecContext(), string1="a", string2="b")
    (two,) = node("AppendStringsToList")(ExecContext(), string1=one, string2=["c", "d"])
    assert one == ["a", "b"] and two == ["a", "b", "c", "d"]
