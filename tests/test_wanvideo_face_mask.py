"""ComfyUI-WanVideoWrapper's ``FaceMaskFromPoseKeypoints`` and the polygon fill under it
(``models.pose.raster.fill_poly``, ``contour_area``), against hand-drawn masks, an even-odd
point-in-polygon test and the shoelace formula, and the pack's documented rules (person choice,
the checks that leave a mask empty)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.models.pose.raster import contour_area, fill_poly
from wfrun.nodes.executor import ExecContext, NodeInputError


def _square_jaw(x0: int, y0: int, side: int) -> list[tuple[int, int]]:
    """17 jaw points down the left side, across the bottom and up the right of a square; the
    polygon closes across the top."""
    step = side // 5
    left = [(x0, y0 + i * step) for i in range(6)]
    bottom = [(x0 + i * step, y0 + side) for i in range(1, 6)]
    right = [(x0 + side, y0 + side - i * step) for i in range(1, 6)]
    return left + bottom + right + [(x0 + side // 2, y0)]


def _frame(faces: list[list[tuple[float, float]]], width: int = 400, height: int = 400) -> dict:
    people = []
    for jaw in faces:
        cx = sum(p[0] for p in jaw) / len(jaw)
        cy = sum(p[1] for p in jaw) / len(jaw)
        points = list(jaw) + [(cx, cy)] * (70 - len(jaw))  # the other face points inside
        people.append({"pose_keypoints_2d": [0.0] * 54,
                       "face_keypoints_2d": [v for x, y in points for v in (float(x), float(y), 1.0)],
                       "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None})
    return {"people": people, "canvas_width": width, "canvas_height": height}


def _inside(x: float, y: float, polygon: list[tuple[int, int]]) -> bool:
    """Even-odd ray casting."""
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _distance_to_edges(x: float, y: float, polygon: list[tuple[int, int]]) -> float:
    best = np.inf
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        d = np.array([x2 - x1, y2 - y1], float)
        t = np.clip(np.dot([x - x1, y - y1], d) / max(np.dot(d, d), 1e-12), 0, 1)
        best = min(best, np.hypot(x - (x1 + t * d[0]), y - (y1 + t * d[1])))
    return best


def test_a_square_polygon_fills_its_pixels_edges_included():
    canvas = np.zeros((50, 60, 1), np.uint8)
    fill_poly(canvas, [(10, 5), (10, 30), (40, 30), (40, 5)], (255,))
    expected = np.zeros((50, 60), np.uint8)
    expected[5:31, 10:41] = 255
    np.testing.assert_array_equal(canvas[..., 0], expected)


def test_a_concave_polygon_matches_even_odd_inside_away_from_its_edges():
    polygon = [(10, 10), (90, 10), (90, 80), (50, 40), (10, 80)]  # a notch cut from the bottom
    canvas = np.zeros((100, 100, 1), np.uint8)
    fill_poly(canvas, polygon, (1,))
    checked = 0
    for y in range(100):
        for x in range(100):
            if _distance_to_edges(x, y, polygon) > 1.5:
                assert canvas[y, x, 0] == _inside(x, y, polygon), (x, y)
                checked += 1
    assert checked > 5000
    assert canvas[70, 50, 0] == 0 and canvas[70, 20, 0] == 1  # the notch is empty, the legs full


def test_contour_area_is_the_shoelace_area():
    assert contour_area([(0, 0), (10, 0), (10, 5), (0, 5)]) == 50.0
    assert contour_area([(0, 0), (0, 5), (10, 5), (10, 0)]) == 50.0  # either winding
    assert contour_area([(10, 10), (90, 10), (90, 80), (50, 40), (10, 80)]) == 80 * 70 - (80 * 40) / 2


def test_the_jaw_line_is_filled_into_a_mask():
    jaw = _square_jaw(100, 100, 100)
    (mask,) = node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=[_frame([jaw])])
    expected = torch.zeros(1, 400, 400)
    expected[0, 100:201, 100:201] = 1.0
    assert mask.dtype == torch.float32
    torch.testing.assert_close(mask, expected)


def test_the_chosen_person_is_followed_by_nearness():
    a, b = _square_jaw(40, 40, 60), _square_jaw(250, 250, 60)
    moved_b = _square_jaw(240, 245, 60)
    frames = [_frame([a, b]), _frame([moved_b, a])]  # the second frame lists them the other way round
    (mask,) = node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=frames, person_index=1)
    assert mask[0, 270, 270] == 1 and mask[0, 60, 60] == 0
    assert mask[1, 270, 260] == 1 and mask[1, 60, 60] == 0
    # an index past the people with faces falls back to the first
    (mask,) = node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=frames[:1], person_index=7)
    assert mask[0, 60, 60] == 1


@pytest.mark.parametrize("case", ["tiny", "huge", "negative", "corner", "few", "none"])
def test_implausible_faces_leave_the_mask_empty(case):
    jaw = _square_jaw(100, 100, 100)
    if case == "tiny":
        jaw = _square_jaw(100, 100, 10)  # 100 px^2 < 0.1% of 160000
    elif case == "huge":
        jaw = _square_jaw(10, 10, 340)  # spans 85% of the canvas
    elif case == "negative":
        jaw[3] = (-1.0, 150.0)
    elif case == "corner":
        jaw[0:4] = [(0.0, 0.0)] * 4  # four missing points at the origin
    frame = _frame([jaw])
    if case == "few":
        frame["people"][0]["face_keypoints_2d"] = frame["people"][0]["face_keypoints_2d"][:16 * 3]
    if case == "none":
        frame["people"] = []
    (mask,) = node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=[frame])
    assert mask.shape == (1, 400, 400) and not mask.any()


def test_no_frames_and_bad_input():
    (mask,) = node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=[])
    assert mask.shape == (1, 64, 64) and not mask.any()
    with pytest.raises(NodeInputError):
        node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=[{"people": []}])
    with pytest.raises(NodeInputError):
        node("FaceMaskFromPoseKeypoints")(ExecContext(), pose_kps=[{"people": [], "canvas_width": 10 ** 6,
                                                                    "canvas_height": 10}])


def test_lines_light_the_same_pixels_in_both_directions():
    """OpenCV draws a line from its left end: (0, 0)-(2, 1) steps right first and goes down at
    the end (the error ``2 - 2 = 0`` is not negative), whichever end is given first."""
    from wfrun.models.pose.raster import line8

    for p0, p1 in (((0, 0), (2, 1)), ((2, 1), (0, 0))):
        canvas = np.zeros((3, 4, 1), np.uint8)
        line8(canvas, p0, p1, (1,))
        assert np.argwhere(canvas[..., 0]).tolist() == [[0, 0], [0, 1], [1, 2]]
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = tuple(rng.integers(0, 30, 2)), tuple(rng.integers(0, 30, 2))
        one, other = np.zeros((30, 30, 1), np.uint8), np.zeros((30, 30, 1), np.uint8)
        line8(one, a, b, (1,))
        line8(other, b, a, (1,))
        np.testing.assert_array_equal(one, other)
        assert one.sum() == max(abs(a[0] - b[0]), abs(a[1] - b[1])) + 1
