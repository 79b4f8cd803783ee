"""Pose preprocessing (``models.pose``) and comfyui_controlnet_aux's ``DWPreprocessor``.

Models are tiny ONNX graphs built with ``onnx.helper`` in the releases' input and output names
and shapes; the decode, crop, resampling and drawing are checked against independent numpy /
scipy references and the documented formulas (OpenPose order, colours, thresholds).
"""

from __future__ import annotations

import colorsys
import math
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from scipy import ndimage

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.pose import draw, raster, simcc, wholebody, yolox
from wfrun.models.pose.onnx_runtime import OnnxModelError, load_onnx
from wfrun.models.pose.pipeline import pose_input_size
from wfrun.models.pose.resample import resize_linear, warp_affine_linear
from wfrun.models.pose.tiny import write_tiny_rtmpose, write_tiny_yolox
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.controlnet_aux.dwpose import onnx_twin

ANCHORS = 8400


# --- models built with onnx.helper ------------------------------------------------------------


def _constant_model(path: Path, input_name: str, input_shape: list, outputs: dict[str, np.ndarray]) -> Path:
    """A model whose outputs are fixed arrays (a batch dimension follows the input's): each
    output is ``ReduceSum(input) * 0 + value``, so the input is read but changes nothing."""
    nodes = [helper.make_node("ReduceSum", [input_name], ["total"], keepdims=0),
             helper.make_node("Mul", ["total", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_value"))
        nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(nodes, "constant", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                                                                 input_shape)],
                              graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _yolox_rows(boxes: list[tuple[float, float, float, float, float]]) -> np.ndarray:
    """Raw YOLOX output ``[1, 8400, 85]`` with one anchor per (cx, cy, w, h, score) in letterbox
    pixels, on the stride-32 grid (anchors 6400 + 1600 onwards), everything else scoring 0."""
    rows = np.zeros((1, ANCHORS, 85), np.float32)
    rows[0, :, 2:4] = 0.0
    base = 80 * 80 + 40 * 40
    for i, (cx, cy, w, h, score) in enumerate(boxes):
        col, row = int(cx // 32), int(cy // 32)
        anchor = base + row * 20 + col
        rows[0, anchor, 0:2] = (cx / 32 - col, cy / 32 - row)
        rows[0, anchor, 2:4] = (math.log(w / 32), math.log(h / 32))
        rows[0, anchor, 4] = 1.0
        rows[0, anchor, 5] = score
    return rows


# --- the ONNX writer and the tiny stand-ins ----------------------------------------------------


def test_tiny_models_are_valid_onnx_with_the_release_interfaces(tmp_path):
    det = write_tiny_yolox(tmp_path / "yolox_l.onnx")
    pose = write_tiny_rtmpose(tmp_path / "dw-ll_ucoco_384.onnx")
    for path in (det, pose):
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    d = load_onnx(det)
    assert (d.input_name, d.input_shape, d.output_names) == ("images", (1, 3, 640, 640), ("output",))
    (out,) = d.run(np.zeros((1, 3, 640, 640), np.float32))
    assert out.shape == (1, ANCHORS, 85)
    assert 0 <= out[..., 4:].min() and out[..., 4:].max() <= 1  # objectness and classes are probabilities
    p = load_onnx(pose)
    assert (p.input_name, p.output_names) == ("input", ("simcc_x", "simcc_y"))
    assert p.input_shape == (None, 3, 384, 288) and pose_input_size(p) == (288, 384)
    x, y = p.run(np.zeros((3, 3, 384, 288), np.float32))
    assert x.shape == (3, 133, 576) and y.shape == (3, 133, 768)


def test_writer_graph_computes_what_its_nodes_say(tmp_path):
    """The tiny pose net is pool → 1x1 conv → relu → two matmuls; recompute it in numpy from
    the initializers onnx reads back."""
    path = write_tiny_rtmpose(tmp_path / "p.onnx", input_size=(192, 256), seed=3)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    x = np.random.default_rng(0).standard_normal((2, 3, 256, 192)).astype(np.float32)
    pooled = x.reshape(2, 3, 8, 32, 6, 32).mean(axis=(3, 5))
    feat = np.maximum(np.einsum("oc,nchw->nohw", inits["conv_w"][:, :, 0, 0], pooled)
                      + inits["conv_b"][None, :, None, None], 0).reshape(2, 133, 48)
    sx, sy = load_onnx(path).run(x)
    np.testing.assert_allclose(sx, feat @ inits["wx"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(sy, feat @ inits["wy"], rtol=1e-4, atol=1e-3)


def test_non_onnx_files_are_refused_by_name(tmp_path):
    archive = tmp_path / "fake.onnx"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02")
    with pytest.raises(OnnxModelError, match="PyTorch archive"):
        load_onnx(archive)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x07\x07 not a model")
    with pytest.raises(OnnxModelError, match="onnxruntime cannot load it"):
        load_onnx(garbage)


# --- YOLOX -------------------------------------------------------------------------------------


def _reference_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        ok = True
        for j in keep:
            iw = max(0.0, min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]) + 1)
            ih = max(0.0, min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]) + 1)
            area = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
            if iw * ih / (area(boxes[i]) + area(boxes[j]) - iw * ih) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_nms_matches_a_plain_reference():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 200, (60, 2))
    wh = rng.uniform(10, 80, (60, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    assert yolox.nms(boxes, scores, 0.45) == _reference_nms(boxes.tolist(), scores.tolist(), 0.45)


def test_letterbox_scales_into_the_top_left_on_grey():
    image = np.random.default_rng(0).integers(0, 256, (100, 250, 3), dtype=np.uint8)
    pixels, r = yolox.letterbox(image)
    assert r == pytest.approx(640 / 250) and pixels.shape == (1, 3, 640, 640) and pixels.dtype == np.float32
    rows = int(100 * r)
    assert np.all(pixels[0, :, rows:] == 114)
    assert np.array_equal(pixels[0, :, :rows].transpose(1, 2, 0), resize_linear(image, (rows, 640)).astype(np.float32))


def test_detector_decodes_people_and_drops_other_classes(tmp_path):
    """Boxes put on the grid come back in frame pixels (divided by the letterbox scale);
    overlapping ones are suppressed, weak ones and other classes dropped."""
    rows = _yolox_rows([(200, 150, 120, 240, 0.9), (210, 160, 120, 240, 0.8),  # overlaps the first
                        (500, 300, 80, 100, 0.6), (400, 400, 50, 50, 0.25)])  # weak: below 0.3
    cat = 300 // 32 * 20 + 100 // 32 + 80 * 80 + 40 * 40
    rows[0, cat, 0:4] = (100 / 32 - 3, 300 / 32 - 9, math.log(2), math.log(2))
    rows[0, cat, 4], rows[0, cat, 6] = 1.0, 0.99  # a confident dog
    model = load_onnx(_constant_model(tmp_path / "yolox_l.onnx", "images", [1, 3, 640, 640], {"output": rows}))
    image = np.zeros((320, 480, 3), np.uint8)  # letterbox scale 4/3
    boxes = yolox.detect_people(model, image)
    r = 640 / 480
    expected = [(200 - 60, 150 - 120, 200 + 60, 150 + 120), (500 - 40, 300 - 50, 500 + 40, 300 + 50)]
    np.testing.assert_allclose(boxes, np.array(expected) / r, rtol=1e-5)


# --- crop and SimCC ----------------------------------------------------------------------------


def test_crop_warp_matches_a_bilinear_reference():
    """The crop is the box (padded 1.25, fitted to 3:4) scaled onto 288x384: each output pixel
    samples the frame bilinearly at ``centre - scale/2 + (x + .5) * scale/288 - .5``-style
    positions (OpenCV's pixel convention: out (x, y) ← in M^-1 (x, y)), black outside."""
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.uniform(0, 255, (200, 150, 3)), (3, 3, 0)).astype(np.uint8)
    box = np.array([30.0, 40.0, 110.0, 170.0], np.float32)
    centre, scale = simcc.box_to_centre_scale(box)
    scale = simcc.fit_aspect(scale, 288 / 384)
    assert scale[0] / scale[1] == pytest.approx(288 / 384)
    warped = warp_affine_linear(image, simcc.crop_matrix(centre, scale, (288, 384)), (288, 384))
    k = scale[0] / 288
    ys, xs = np.mgrid[0:384, 0:288].astype(np.float64)
    src_x = (xs - 144) * k + centre[0]
    src_y = (ys - 192) * k + centre[1]
    ref = np.stack([ndimage.map_coordinates(image[..., c].astype(np.float64), [src_y, src_x], order=1,
                                            mode="constant", cval=0.0) for c in range(3)], -1)
    inside = (src_x > 1) & (src_x < 148) & (src_y > 1) & (src_y < 198)
    assert np.abs(warped[inside].astype(float) - ref[inside]).max() <= 2.0  # 1/32-pixel positions


def test_resize_linear_matches_half_pixel_bilinear():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = resize_linear(image, (90, 70))
    ys = np.clip((np.arange(90) + 0.5) * 37 / 90 - 0.5, 0, 36)
    xs = np.clip((np.arange(70) + 0.5) * 53 / 70 - 0.5, 0, 52)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    ref = np.stack([ndimage.map_coordinates(image[..., c].astype(np.float64), [yy, xx], order=1)
                    for c in range(3)], -1)
    assert np.abs(out.astype(float) - ref).max() <= 1.0  # 1/2048 weights, fixed-point rounding


def test_simcc_decode_and_mapping_back(tmp_path):
    """Peaks put at known bins come back at ``bin / 2`` in the crop, mapped through the box;
    a point whose maxima are not positive is -1 with score 0 or less; the score is the smaller
    of the two maxima."""
    n_points = 133
    sx = np.full((1, n_points, 576), -1.0, np.float32)
    sy = np.full((1, n_points, 768), -1.0, np.float32)
    rng = np.random.default_rng(0)
    bins_x, bins_y = rng.integers(0, 576, n_points), rng.integers(0, 768, n_points)
    peaks_x, peaks_y = rng.uniform(0.1, 1.0, n_points), rng.uniform(0.1, 1.0, n_points)
    sx[0, np.arange(n_points), bins_x] = peaks_x
    sy[0, np.arange(n_points), bins_y] = peaks_y
    sx[0, 7], sy[0, 7] = -0.5, -0.5  # nothing positive
    model = load_onnx(_constant_model(tmp_path / "dw-ll_ucoco_384.onnx", "input", [1, 3, 384, 288],
                                      {"simcc_x": sx, "simcc_y": sy}))
    image = np.zeros((300, 400, 3), np.uint8)
    boxes = np.array([[50.0, 20.0, 250.0, 280.0], [10.0, 10.0, 40.0, 90.0]], np.float32)
    points, scores = simcc.estimate(model, image, boxes, (288, 384))
    assert points.shape == (2, n_points, 2)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        w, h = (x2 - x1) * 1.25, (y2 - y1) * 1.25
        w, h = (w, w * 4 / 3) if w > h * 0.75 else (h * 0.75, h)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ex = bins_x / 2 / 288 * w + cx - w / 2
        ey = bins_y / 2 / 384 * h + cy - h / 2
        ex[7], ey[7] = -1 / 2 / 288 * w + cx - w / 2, -1 / 2 / 384 * h + cy - h / 2
        np.testing.assert_allclose(points[i, :, 0], ex, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(points[i, :, 1], ey, rtol=1e-4, atol=1e-3)
        expect = np.minimum(peaks_x, peaks_y)
        expect[7] = -0.5
        np.testing.assert_allclose(scores[i], expect, rtol=1e-6)


def test_fixed_batch_models_run_box_by_box(tmp_path):
    sx = np.random.default_rng(0).uniform(0, 1, (1, 133, 384)).astype(np.float32)
    sy = np.random.default_rng(1).uniform(0, 1, (1, 133, 512)).astype(np.float32)
    model = load_onnx(_constant_model(tmp_path / "dw-ll_ucoco.onnx", "input", [1, 3, 256, 192],
                                      {"simcc_x": sx, "simcc_y": sy}))
    assert model.fixed_batch == 1 and pose_input_size(model) == (192, 256)
    points, scores = simcc.estimate(model, np.zeros((64, 64, 3), np.uint8),
                                    np.array([[0, 0, 30, 40], [10, 10, 50, 60], [5, 5, 9, 9]], np.float32), (192, 256))
    assert points.shape == (3, 133, 2) and np.allclose(scores, scores[0])


# --- whole body to OpenPose --------------------------------------------------------------------


def test_openpose_order_neck_and_parts():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (1, 133, 2))
    scores = rng.uniform(0.5, 1.0, (1, 133))
    scores[0, 100] = 0.1  # one left-hand point too weak
    scores[0, 23:91] = 0.0  # no face (COCO-WholeBody: 17-22 feet, 23-90 face, 91-111 and 112-132 hands)
    info = wholebody.to_openpose(points, scores)
    assert info.shape == (1, 134, 3)
    # OpenPose body: 0 nose, 1 neck, 2-4 right arm, 5-7 left arm, 8-10 right leg, 11-13 left leg,
    # 14/15 right/left eye, 16/17 right/left ear; COCO: 0 nose, 1/2 eyes L/R, 3/4 ears, 5/6 shoulders
    # L/R, 7/8 elbows, 9/10 wrists, 11/12 hips, 13/14 knees, 15/16 ankles
    coco_for_openpose = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    for op, coco in enumerate(coco_for_openpose):
        if coco is None:
            np.testing.assert_allclose(info[0, 1, :2], (points[0, 5] + points[0, 6]) / 2)
            assert info[0, 1, 2] == 1.0
        else:
            np.testing.assert_allclose(info[0, op], [*points[0, coco], scores[0, coco]])
    np.testing.assert_allclose(info[0, 92:134, :2], points[0, 91:133])  # hands move up one with the neck
    (person,) = wholebody.people(info)
    assert person.face is None and len(person.body) == 18
    assert person.left_hand[100 - 91] is None and sum(p is None for p in person.left_hand) == 1
    data = wholebody.openpose_dict([person], 120, 80)
    assert data["canvas_height"] == 120 and data["canvas_width"] == 80
    (entry,) = data["people"]
    assert entry["face_keypoints_2d"] is None and len(entry["pose_keypoints_2d"]) == 54
    assert entry["hand_left_keypoints_2d"][3 * 9:3 * 10] == [0.0, 0.0, 0.0]
    assert entry["pose_keypoints_2d"][:3] == [float(points[0, 0, 0]), float(points[0, 0, 1]), 1.0]


def test_neck_needs_both_shoulders_and_face_gets_the_eyes():
    points = np.zeros((1, 133, 2))
    points[0, :, 0] = np.arange(133)
    scores = np.ones((1, 133))
    scores[0, 6] = 0.2  # right shoulder weak
    info = wholebody.to_openpose(points, scores)
    assert info[0, 1, 2] == 0.0
    (person,) = wholebody.people(info)
    assert person.body[1] is None and person.body[2] is None
    assert len(person.face) == 70 and person.face[68] == person.body[14] and person.face[69] == person.body[15]


# --- drawing -----------------------------------------------------------------------------------


def test_filled_circle_is_the_disc_of_its_radius():
    for radius in range(0, 7):
        canvas = np.zeros((30, 30, 3), np.uint8)
        raster.circle(canvas, (15, 14), radius, (9, 9, 9))
        lit = canvas[..., 0] > 0
        ys, xs = np.mgrid[0:30, 0:30]
        d2 = (xs - 15) ** 2 + (ys - 14) ** 2
        assert lit[d2 <= radius * radius].all() and not lit[d2 > (radius + 0.5) ** 2].any()
        sub = lit[14 - radius:15 + radius, 15 - radius:16 + radius]
        assert np.array_equal(sub, sub.T) and np.array_equal(sub, sub[::-1]) and np.array_equal(sub, sub[:, ::-1])


def test_ellipse_polygon_follows_the_ellipse():
    for angle in (-170, -45, 0, 30, 90, 200):
        pts = raster.ellipse_polygon((50, 40), (30, 4), angle)
        assert pts[0] == pts[-1] and all(a != b for a, b in zip(pts, pts[1:]))
        a = math.radians(angle)
        exact = [(50 + 30 * math.cos(math.radians(d)) * math.cos(a) - 4 * math.sin(math.radians(d)) * math.sin(a),
                  40 + 30 * math.cos(math.radians(d)) * math.sin(a) + 4 * math.sin(math.radians(d)) * math.cos(a))
                 for d in range(361)]
        for x, y in pts:
            assert min((x - ex) ** 2 + (y - ey) ** 2 for ex, ey in exact) <= 0.5 + 1e-6


def test_convex_fill_covers_the_ellipse_and_nothing_far_outside():
    """A body limb's polygon filled: every pixel a pixel inside the true ellipse is lit, none
    more than 1.5 pixels outside it."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:80, 0:80].astype(float)
    for _ in range(20):
        cx, cy = (int(v) for v in rng.integers(20, 60, 2))
        a, angle = int(rng.integers(3, 20)), int(rng.integers(-180, 180))
        canvas = np.zeros((80, 80, 3), np.uint8)
        raster.fill_convex_poly(canvas, raster.ellipse_polygon((cx, cy), (a, 4), angle), (1, 2, 3))
        lit = canvas[..., 0] > 0
        t = math.radians(angle)
        u = (xs - cx) * math.cos(t) + (ys - cy) * math.sin(t)
        v = -(xs - cx) * math.sin(t) + (ys - cy) * math.cos(t)
        well_inside = (u / (a - 1)) ** 2 + (v / 3) ** 2 <= 1
        far_outside = (u / (a + 1.5)) ** 2 + (v / 5.5) ** 2 > 1
        assert lit[well_inside].all() and not lit[far_outside].any()


def test_body_limbs_and_points_in_the_pack_colours():
    kp = wholebody.Keypoint
    body = [None] * 18
    body[1], body[2] = kp(40.0, 30.0), kp(40.0, 70.0)  # neck → right shoulder: limb 0, straight down
    canvas = draw.draw_people([wholebody.Person(body, None, None, None)], 100, 100)
    limb = [int(c * 0.6) for c in draw.COLORS[0]]
    assert list(canvas[50, 40]) == limb  # the limb's middle
    assert list(canvas[50, 40 + 4]) == limb and not canvas[50, 40 + 6].any()  # 4 pixels either side
    assert list(canvas[30, 40]) == list(draw.COLORS[1]) and list(canvas[70, 42]) == list(draw.COLORS[2])


def test_hand_bones_go_round_the_hue_circle():
    for index in range(20):
        h6 = index / 20 * 6
        sector, f = int(h6), h6 - int(h6)
        rgb = [(1, f, 0), (1 - f, 1, 0), (0, 1, f), (0, 1 - f, 1), (f, 0, 1), (1, 0, 1 - f)][sector]
        assert draw.hand_color(index) == tuple(int(np.rint(c * 255)) for c in rgb)
    assert colorsys.hsv_to_rgb(0.25, 1, 1) == (0.5, 1.0, 0.0)
    kp = wholebody.Keypoint
    hand = [None] * 21
    hand[0], hand[1] = kp(10.0, 50.0), kp(90.0, 50.0)
    canvas = draw.draw_people([wholebody.Person([None] * 18, hand, None, None)], 100, 100, body=False)
    assert list(canvas[50, 50]) == list(draw.hand_color(0)) and list(canvas[50, 10]) == list(draw.HAND_POINT)
    hand[0] = kp(0.0, 50.0)  # on column 0: the pack skips it and its bone
    canvas = draw.draw_people([wholebody.Person([None] * 18, hand, None, None)], 100, 100, body=False)
    assert not canvas[50, 50].any()


def test_thick_line_is_two_pixels_wide():
    canvas = np.zeros((40, 60, 3), np.uint8)
    raster.thick_line(canvas, (5, 20), (50, 20), (7, 7, 7), 2)
    column = canvas[:, 30, 0] > 0
    assert column.sum() in (2, 3) and column[19:22].sum() == column.sum()


# --- the node ----------------------------------------------------------------------------------


def _models(tmp_path: Path, detector_rows: np.ndarray | None = None) -> Path:
    folder = tmp_path / "models" / "controlnet_aux"
    folder.mkdir(parents=True)
    if detector_rows is None:
        write_tiny_yolox(folder / "yolox_l.onnx")
    else:
        _constant_model(folder / "yolox_l.onnx", "images", [1, 3, 640, 640], {"output": detector_rows})
    write_tiny_rtmpose(folder / "dw-ll_ucoco_384.onnx")
    return tmp_path / "models"


def _frames(n: int, h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).uniform(0, 1, (n, h, w, 3)).astype(np.float32))


def test_torchscript_choices_name_their_onnx_twins():
    assert onnx_twin("dw-ll_ucoco_384_bs5.torchscript.pt") == "dw-ll_ucoco_384.onnx"
    assert onnx_twin("yolox_l.torchscript.pt") == "yolox_l.onnx"


def test_dwpreprocessor_draws_and_reports_each_frame(tmp_path):
    ctx = ExecContext(models=ModelRoots((_models(tmp_path),)))
    frames = _frames(2, 96, 128)
    image, poses = node("DWPreprocessor")(ctx, image=frames, resolution=256, bbox_detector="yolox_l.torchscript.pt",
                                          pose_estimator="dw-ll_ucoco_384_bs5.torchscript.pt")
    assert image.shape == (2, 256, 341, 3) and image.dtype == torch.float32
    assert len(poses) == 2 and all(p["canvas_height"] == 96 and p["canvas_width"] == 128 for p in poses)
    assert poses[0]["people"] and image[0].max() > 0
    # the same frame through the pieces, drawn at the frame size
    pixels = np.floor(frames[0].numpy() * 255).astype(np.uint8)
    from wfrun.models.pose.pipeline import detect_frame

    root = tmp_path / "models" / "controlnet_aux"
    persons = detect_frame(load_onnx(root / "yolox_l.onnx"), load_onnx(root / "dw-ll_ucoco_384.onnx"), pixels)
    assert wholebody.openpose_dict(persons, 96, 128) == poses[0]


def test_dwpreprocessor_without_people_gives_black_and_no_people(tmp_path):
    ctx = ExecContext(models=ModelRoots((_models(tmp_path, np.zeros((1, ANCHORS, 85), np.float32)),)))
    image, poses = node("DWPreprocessor")(ctx, image=_frames(1, 64, 64), resolution=64,
                                          bbox_detector="yolox_l.onnx", pose_estimator="dw-ll_ucoco_384.onnx")
    assert image.shape == (1, 64, 64, 3) and not image.any()
    assert poses == [{"people": [], "canvas_height": 64, "canvas_width": 64}]


def test_dwpreprocessor_detect_switches_choose_what_is_drawn(tmp_path):
    ctx = ExecContext(models=ModelRoots((_models(tmp_path),)))
    frames = _frames(1, 128, 128)
    common = dict(image=frames, resolution=128, bbox_detector="yolox_l.onnx", pose_estimator="dw-ll_ucoco_384.onnx")
    full, poses = node("DWPreprocessor")(ctx, **common)
    none, poses_none = node("DWPreprocessor")(ctx, detect_hand="disable", detect_body="disable",
                                              detect_face="disable", **common)
    assert full.any() and not none.any()
    assert poses_none == poses  # the JSON keeps every part, as the pack did until 2026-01


def test_dwpreprocessor_refusals_say_what_to_do(tmp_path):
    models = tmp_path / "models" / "controlnet_aux"
    models.mkdir(parents=True)
    write_tiny_yolox(models / "yolox_l.onnx")
    (models / "dw-ll_ucoco_384_bs5.torchscript.pt").write_bytes(b"PK\x03\x04")
    ctx = ExecContext(models=ModelRoots((tmp_path / "models",)))
    with pytest.raises(NodeInputError) as err:
        node("DWPreprocessor")(ctx, image=_frames(1, 32, 32), pose_estimator="dw-ll_ucoco_384_bs5.torchscript.pt")
    assert err.value.input_name == "pose_estimator" and "dw-ll_ucoco_384.onnx" in err.value.hint
    with pytest.raises(NodeInputError, match="YOLO-NAS"):
        node("DWPreprocessor")(ctx, image=_frames(1, 32, 32), bbox_detector="yolo_nas_l_fp16.onnx")
    (models / "dw-ll_ucoco.onnx").write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(NodeInputError, match="PyTorch archive"):
        node("DWPreprocessor")(ctx, image=_frames(1, 32, 32), pose_estimator="dw-ll_ucoco.onnx")
