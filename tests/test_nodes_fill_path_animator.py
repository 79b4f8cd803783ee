"""ComfyUI_Fill-Nodes' FL_PathAnimator (03d005d): positions along the paths, timing and
easing, the 121-point tracks, trails, worked out by hand."""

from __future__ import annotations

import json

import pytest
import torch

from tests.node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def run(paths, **inputs):
    data = json.dumps({"paths": paths, "canvas_size": {"width": 32, "height": 32}})
    args = dict(frame_width=32, frame_height=32, frame_count=3, shape="square", shape_size=2, shape_color="white",
                bg_color="black", paths_data=data)
    return node("FL_PathAnimator")(ExecContext(), **{**args, **inputs})


def centre(frame: torch.Tensor) -> tuple[float, float]:
    """The centre of the lit pixels of one frame."""
    ys, xs = torch.nonzero(frame[..., 0] > 0.5, as_tuple=True)
    return float(xs.float().mean()), float(ys.float().mean())


def test_the_shape_walks_the_path_by_length():
    # an L of length 20 (10 right, 10 down): at t = 0.5 the corner, at t = 1 the end
    images, mask, _ = run([{"points": [{"x": 6, "y": 6}, {"x": 16, "y": 6}, {"x": 16, "y": 16}]}])
    assert images.shape == (3, 32, 32, 3) and torch.equal(mask, images[..., 0])
    assert [centre(f) for f in images] == [(6.0, 6.0), (16.0, 6.0), (16.0, 16.0)]


def test_timing_easing_and_visibility():
    line = [{"x": 4, "y": 10}, {"x": 20, "y": 10}]
    images, _, _ = run([{"points": line, "startTime": 0.5, "endTime": 1.0}], frame_count=5)
    assert images[:2].max() == 0  # 'pop': hidden before its span
    assert centre(images[3]) == (12.0, 10.0)  # g = 0.75: halfway through its span
    images, _, _ = run([{"points": line, "startTime": 0.5, "endTime": 1.0, "visibilityMode": "static"}], frame_count=5)
    assert centre(images[0]) == (4.0, 10.0)  # held at its start
    images, _, _ = run([{"points": line, "interpolation": "ease-in"}], frame_count=3)
    assert centre(images[1]) == (8.0, 10.0)  # t = 0.5 eased to 0.25: 4 + 16 / 4


def test_tracks_are_121_points_by_arc_length_on_the_frame():
    # canvas 32 wide drawn onto 64: x doubles; path (0,0) -> (10,0) -> (10,10) becomes (0,0) -> (20,0) -> (20,10)
    paths = [{"points": [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 10}]},
             {"points": [{"x": 3, "y": 5}]}, {"points": []}]
    _, _, coords = run(paths, frame_width=64)
    tracks = json.loads(coords)
    assert [len(t) for t in tracks] == [121, 121, 0]
    first = tracks[0]  # total 30, step 0.25
    assert first[0] == {"x": 0, "y": 0} and first[40] == {"x": 10, "y": 0} and first[80] == {"x": 20, "y": 0}
    assert first[82] == {"x": 20, "y": 0}  # y = 0.5 rounds half to even
    assert first[86] == {"x": 20, "y": 2} and first[120] == {"x": 20, "y": 10}  # y = 1.5 -> 2
    assert all(p == {"x": 6, "y": 5} for p in tracks[1])


def test_a_trail_adds_the_previous_frame_and_renormalises():
    line = [{"x": 4, "y": 10}, {"x": 20, "y": 10}]
    plain, _, _ = run([{"points": line}], frame_count=2)
    trail, _, _ = run([{"points": line}], frame_count=2, trail_length=0.5)
    expected = plain[1] + 0.5 * plain[0]
    torch.testing.assert_close(trail[1], expected / expected.max())


def test_bad_json_draws_nothing_and_a_connected_image_is_refused():
    images, _, coords = run([], paths_data="{not json")
    assert images.max() == 0 and coords == "[]"
    with pytest.raises(NodeInputError) as err:
        run([], image=torch.zeros(1, 8, 8, 3))
    assert err.value.input_name == "image"
