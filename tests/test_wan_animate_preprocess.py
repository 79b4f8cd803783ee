"""Wan 2.2 Animate preprocessing: ComfyUI-WanAnimatePreprocess (``OnnxDetectionModelLoader``,
``PoseAndFaceDetection``, ``DrawViTPose``) on ``models.pose`` (YOLOv10 end-to-end decode,
ViTPose crop and heatmap decode, the Animate parts and drawing).

References are independent: scipy's Gaussian filter and torch's bilinear interpolation for the
resampling steps, the closed-form peak of a Gaussian for the DARK refinement, a linear solve
for its Newton step, hand-computed boxes, IoUs and face boxes from the pack's documented rules.
Models are tiny ONNX graphs (``onnx.helper`` constants, or the stand-in writers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from scipy import ndimage

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.pose import animate_draw, animate_meta, heatmap, vitpose, yolo
from wfrun.models.pose.onnx_runtime import load_onnx
from wfrun.models.pose.resample import resize_linear_float
from wfrun.models.pose.tiny import write_tiny_vitpose, write_tiny_yolo_e2e
from wfrun.models.preflight import check_model_file
from wfrun.models.standins import family_for, write_standins
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wan_animate_preprocess.types import PoseData, PoseModel


def _constant_model(path: Path, input_name: str, input_shape: list, output_name: str, value: np.ndarray) -> Path:
    """A model whose one output is a fixed array, whatever the input (which it reads)."""
    nodes = [helper.make_node("ReduceSum", [input_name], ["total"], keepdims=0),
             helper.make_node("Mul", ["total", "zero"], ["nothing"]),
             helper.make_node("Add", ["value", "nothing"], [output_name])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero"),
             numpy_helper.from_array(value.astype(np.float32), "value")]
    graph = helper.make_graph(nodes, "constant",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(value.shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _gaussian(height: int, width: int, x0: float, y0: float, sigma: float = 2.0, peak: float = 1.0) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return (peak * np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * sigma ** 2))).astype(np.float32)


# --- heatmap decode ---------------------------------------------------------------------------


def test_best_cells_are_the_argmax_and_non_positive_maps_give_minus_one():
    rng = np.random.default_rng(0)
    maps = rng.random((2, 5, 16, 12)).astype(np.float32)
    maps[1, 3] = -rng.random((16, 12))  # nothing positive
    cells, values = heatmap.best_cells(maps)
    for n in range(2):
        for k in range(5):
            y, x = np.unravel_index(np.argmax(maps[n, k]), maps[n, k].shape)
            if (n, k) == (1, 3):
                assert tuple(cells[n, k]) == (-1.0, -1.0)
            else:
                assert tuple(cells[n, k]) == (x, y)
            assert values[n, k, 0] == maps[n, k].max()
    assert cells.dtype == np.float32 and values.shape == (2, 5, 1)


def test_modulation_is_scipys_gaussian_with_zero_border_rescaled_to_the_peak():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 20, 15)).astype(np.float32)
    out = heatmap.modulate(maps)
    for m, o in zip(maps, out):
        # OpenCV's sigma for an 11-tap kernel is 2; 11 taps reach 2.5 sigma either side
        ref = ndimage.gaussian_filter(m.astype(np.float64), sigma=2.0, truncate=2.5, mode="constant", cval=0.0)
        ref *= m.max() / ref.max()
        np.testing.assert_allclose(o, ref, rtol=1e-5, atol=1e-6)


def test_gaussian_kernel_is_opencvs_default_sigma():
    taps = heatmap.gaussian_kernel(11)
    x = np.arange(11) - 5
    ref = np.exp(-x ** 2 / (2 * 2.0 ** 2))
    np.testing.assert_allclose(taps, ref / ref.sum(), rtol=1e-12)


@pytest.mark.parametrize("x0,y0", [(20.3, 30.7), (10.8, 12.2), (33.5, 50.45)])
def test_dark_refinement_finds_a_gaussian_peak_between_cells(x0, y0):
    """A Gaussian heatmap blurred by a Gaussian is Gaussian: its log is a quadratic whose Newton
    step from the best cell lands on the true peak."""
    maps = _gaussian(64, 48, x0, y0)[None, None]
    points, scores = heatmap.decode(maps, np.array([[24.0, 32.0]]), np.array([[48.0, 64.0]]))
    # a box as large as the heatmap centred on it: pixels equal cells
    np.testing.assert_allclose(points[0, 0], [x0, y0], atol=0.02)
    assert scores[0, 0, 0] == maps.max()


def test_newton_step_matches_a_linear_solve_with_the_packs_stencils():
    rng = np.random.default_rng(2)
    log_map = np.log(heatmap.modulate(rng.random((1, 1, 20, 16)).astype(np.float32) + 0.1))[0, 0]
    for cx, cy in [(5, 7), (8, 10), (2, 2)]:
        h = log_map.astype(np.float64)
        grad = np.array([(h[cy, cx + 1] - h[cy, cx - 1]) / 2, (h[cy + 1, cx] - h[cy - 1, cx]) / 2])
        hess = np.array([[(h[cy, cx + 2] - 2 * h[cy, cx] + h[cy, cx - 2]) / 4,
                          (h[cy + 1, cx + 1] - h[cy - 1, cx + 1] - h[cy + 1, cx - 1] + h[cy - 1, cx - 1]) / 4],
                         [0.0, (h[cy + 2, cx] - 2 * h[cy, cx] + h[cy - 2, cx]) / 4]])
        hess[1, 0] = hess[0, 1]
        expected = np.array([cx, cy]) - np.linalg.solve(hess, grad)
        got = heatmap.refine(log_map[None], np.array([[cx, cy]], np.float32))[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    # cells within two of the border are left alone
    for cell in [(1, 5), (14, 5), (5, 1), (5, 18)]:
        assert tuple(heatmap.refine(log_map[None], np.array([cell], np.float32))[0]) == cell


def test_cells_map_back_through_the_box():
    maps = np.zeros((1, 1, 64, 48), np.float32)
    maps[0, 0, 10, 40] = 1.0  # a single cell: the refinement sees a flat log around it and keeps it
    centre, size = np.array([[300.0, 200.0]]), np.array([[150.0, 200.0]])
    points, _ = heatmap.decode(maps, centre, size)
    cells = heatmap.refine(np.log(np.maximum(heatmap.modulate(maps), 1e-10)), np.array([[[40.0, 10.0]]], np.float32))
    expected_x = cells[0, 0, 0] * 150.0 / 48 + 300.0 - 75.0
    expected_y = cells[0, 0, 1] * 200.0 / 64 + 200.0 - 100.0
    np.testing.assert_allclose(points[0, 0], [expected_x, expected_y], rtol=1e-6)


# --- resampling and the crop ------------------------------------------------------------------


@pytest.mark.parametrize("size", [(256, 192), (640, 640), (31, 17), (512, 512)])
def test_float_resize_is_bilinear_with_half_pixel_centres(size):
    rng = np.random.default_rng(3)
    image = rng.random((97, 61, 3)).astype(np.float32)
    out = resize_linear_float(image, size)
    ref = torch.nn.functional.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None], size=size,
                                          mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)  # both place samples in float32
    assert out.dtype == np.float32 and out.shape == (*size, 3)


def test_box_to_centre_and_scale_grow_to_the_aspect_then_by_a_quarter():
    centre, scale = vitpose.box_to_centre_scale(np.array([100, 50, 200, 450]))
    np.testing.assert_allclose(centre, [150, 250])
    # a tall box: its height (400) decides; width = 400 * 192 / 256
    np.testing.assert_allclose(scale * 200, [400 * 0.75 * 1.25, 400 * 1.25])
    centre, scale = vitpose.box_to_centre_scale(np.array([0, 0, 400, 100]))
    np.testing.assert_allclose(scale * 200, [400 * 1.25, 400 / 0.75 * 1.25])


def test_crop_of_an_exact_window_is_the_frame_and_outside_is_zero():
    rng = np.random.default_rng(4)
    frame = rng.random((400, 300, 3)).astype(np.float32)
    # height 256 pixels (scale 1.28) centred at (150, 200): the window is x 54..246, y 72..328
    out = vitpose.crop(frame, np.array([150.0, 200.0]), np.array([0.96, 1.28]))
    np.testing.assert_array_equal(out, frame[72:328, 54:246])
    # the same window half off the left edge: its left half is zeros
    out = vitpose.crop(frame, np.array([0.0, 200.0]), np.array([0.96, 1.28]))
    assert np.all(out[:, :96] == 0)
    np.testing.assert_array_equal(out[:, 96:], frame[72:328, 0:96])


def test_small_or_missing_boxes_use_the_whole_frame():
    assert vitpose.usable_box(np.array([0, 0, 5, 100, 0.9]), 480, 832).tolist() == [0, 0, 832, 480]
    assert vitpose.usable_box(np.array([0, 0, 50, 100, -1]), 480, 832).tolist() == [0, 0, 832, 480]
    assert vitpose.usable_box(np.array([10, 20, 50, 100, 0.5]), 480, 832).tolist() == [10, 20, 50, 100, 0.5]


# --- the detector -----------------------------------------------------------------------------


def test_nms_keeps_the_best_of_overlapping_rects():
    boxes = np.array([[0, 0, 100, 100], [10, 0, 100, 100], [60, 60, 100, 100], [300, 300, 10, 10]])
    scores = np.array([0.5, 0.9, 0.7, 0.04], np.float32)
    # IoU(0, 1) = 9000 / 10000 = 0.9 > 0.5: suppressed by the better box 1.
    # IoU(1, 2) = (100 - 60) * (100 - 60) / (10000 + 10000 - 1600) = 0.087: kept. Box 3 scores under 0.05.
    assert yolo.nms_rects(boxes, scores) == [1, 2]


def test_detections_scale_truncate_and_select_the_largest_person(tmp_path):
    rows = np.zeros((1, 300, 6), np.float32)
    rows[0, 0] = (64, 64, 320, 576, 0.9, 0)      # person, 256x512 in input pixels
    rows[0, 1] = (70, 70, 320, 570, 0.8, 0)      # nearly the same: suppressed
    rows[0, 2] = (400, 100, 480, 300, 0.95, 2)   # a car
    rows[0, 3] = (500, 500, 520, 540, 0.7, 0)    # a small person: under 0.4 of the longest side
    model = load_onnx(_constant_model(tmp_path / "yolov10m.onnx", "images", [1, 3, 640, 640], "output0", rows))
    frame = np.zeros((480, 832, 3), np.float32)
    box = yolo.detect_person(model, frame)
    fx, fy = 832 / 640, 480 / 640
    x1, y1 = int(np.float32(64) * np.float32(fx)), int(np.float32(64) * np.float32(fy))
    w = int(np.float32(320) * np.float32(fx) - np.float32(64) * np.float32(fx))
    h = int(np.float32(576) * np.float32(fy) - np.float32(64) * np.float32(fy))
    assert box[:4].tolist() == [x1, y1, x1 + w, y1 + h]
    assert box[4] == pytest.approx(0.9)


def test_no_person_gives_the_whole_frame_and_wrong_layouts_are_refused(tmp_path):
    rows = np.zeros((1, 300, 6), np.float32)
    rows[0, 0] = (10, 10, 100, 100, 0.9, 5)  # not a person
    model = load_onnx(_constant_model(tmp_path / "a.onnx", "images", [1, 3, 640, 640], "output0", rows))
    assert yolo.detect_person(model, np.zeros((100, 200, 3), np.float32)).tolist() == [0, 0, 200, 100, -1]
    v8 = load_onnx(_constant_model(tmp_path / "b.onnx", "images", [1, 3, 640, 640], "output0",
                                   np.zeros((1, 84, 8400), np.float32)))
    with pytest.raises(ValueError, match="end-to-end"):
        yolo.detect_person(v8, np.zeros((100, 200, 3), np.float32))


# --- the Animate parts ------------------------------------------------------------------------


def _wholebody(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    kps = np.zeros((133, 3), np.float32)
    kps[:, 0] = rng.uniform(0, width, 133)
    kps[:, 1] = rng.uniform(0, height, 133)
    kps[:, 2] = rng.uniform(0, 1, 133)
    return kps


def test_parts_follow_openposes_order_with_the_neck_and_toes_averaged():
    rng = np.random.default_rng(5)
    kps = _wholebody(rng, 200, 100)
    body, left, right, face = animate_meta.split(kps, 200, 100)
    norm = kps / np.array([200, 100, 1], np.float32)
    np.testing.assert_allclose(body[0], norm[0], rtol=1e-6)                      # nose
    np.testing.assert_allclose(body[1], (norm[5] + norm[6]) / 2, rtol=1e-6)      # neck: the shoulders
    np.testing.assert_allclose(body[2], norm[6], rtol=1e-6)                      # right shoulder
    np.testing.assert_allclose(body[5], norm[5], rtol=1e-6)                      # left shoulder
    np.testing.assert_allclose(body[18], (norm[17] + norm[18]) / 2, rtol=1e-6)   # left toes
    np.testing.assert_allclose(body[19], (norm[20] + norm[21]) / 2, rtol=1e-6)   # right toes
    np.testing.assert_allclose(left, norm[91:112])
    np.testing.assert_allclose(right, norm[112:133])
    np.testing.assert_allclose(face, norm[22:91])


def test_a_frame_with_every_body_point_off_canvas_keeps_the_last_body():
    rng = np.random.default_rng(6)
    first, second = _wholebody(rng, 100, 100), _wholebody(rng, 100, 100)
    second[:23, 0] = -5.0
    poses = animate_meta.frame_poses(np.stack([first, second]), 100, 100)
    np.testing.assert_array_equal(poses[1].body, poses[0].body)
    np.testing.assert_allclose(poses[1].face, animate_meta.split(second, 100, 100)[3])


def test_face_box_grows_by_the_packs_rule():
    face = np.zeros((69, 3), np.float32)
    face[0] = (0.99, 0.99, 1)  # the foot point in front is not part of the face
    face[1:, 0] = np.linspace(100, 140, 68) / 400  # 40 wide
    face[1:, 1] = np.linspace(200, 260, 68) / 300  # 60 high
    pose = animate_meta.FramePose(400, 300, np.zeros((20, 3), np.float32), np.zeros((21, 3), np.float32),
                                  np.zeros((21, 3), np.float32), face)
    # by hand: area 40 * 60 * 1.3 = 3120 at aspect 2:3 is 45.61 x 68.41, so 2.80 more either side
    # across, and (68.41 - 60) / 4 = 2.10: three times that above, once below
    assert animate_meta.face_box(pose, 300, 400) == (97, 142, 193, 262)
    # clipped to the frame: the same face in the bottom-right corner
    corner = face.copy()
    corner[1:, 0] = np.linspace(360, 400, 68) / 400
    corner[1:, 1] = np.linspace(240, 300, 68) / 300
    pose = animate_meta.FramePose(400, 300, pose.body, pose.left_hand, pose.right_hand, corner)
    assert animate_meta.face_box(pose, 300, 400) == (357, 400, 233, 300)


@pytest.mark.parametrize("frames,key", [(1, 0), (3, 0), (4, 3), (5, 4), (81, 80), (10, 8)])
def test_key_frame_points_come_from_the_last_key_frame(frames, key):
    rng = np.random.default_rng(7)
    kps = np.stack([_wholebody(rng, 320, 240) for _ in range(frames)])
    poses = animate_meta.frame_poses(kps, 320, 240)
    points = animate_meta.key_frame_points(poses)
    body = poses[key].body
    expected = [{"x": int(body[i, 0] * 320), "y": int(body[i, 1] * 240)} for i in (0, 1, 2, 5, 8, 11, 10, 13)]
    assert points == expected


# --- drawing ----------------------------------------------------------------------------------


def test_stick_widths_follow_the_canvas():
    assert animate_draw.body_stick(480, 832, -1) == 1
    assert animate_draw.body_stick(1080, 1920, -1) == 4
    assert animate_draw.hand_stick(1080, 1920, -1) == 2
    assert animate_draw.hand_stick(480, 832, -1) == 1
    assert animate_draw.body_stick(480, 832, 7) == 7


def _standing_body(width: int, height: int) -> np.ndarray:
    body = np.zeros((20, 3))
    layout = [(0.5, 0.1), (0.5, 0.2), (0.4, 0.2), (0.35, 0.35), (0.3, 0.5), (0.6, 0.2), (0.65, 0.35), (0.7, 0.5),
              (0.45, 0.55), (0.45, 0.75), (0.45, 0.9), (0.55, 0.55), (0.55, 0.75), (0.55, 0.9), (0.48, 0.08),
              (0.52, 0.08), (0.46, 0.1), (0.54, 0.1), (0.58, 0.95), (0.42, 0.95)]
    body[:, :2] = np.array(layout) * (width, height)
    body[:, 2] = 0.9
    return body


def test_body_points_are_discs_in_their_colours_and_limbs_are_dimmed():
    canvas = animate_draw.draw_pose(400, 400, _standing_body(400, 400), np.zeros((21, 3)), np.zeros((21, 3)),
                                    body_stick_width=3)
    body = _standing_body(400, 400)
    # the right knee (index 9) is drawn after the limbs: its own colour at its centre
    x, y = int(body[9, 0]), int(body[9, 1])
    assert tuple(canvas[y, x]) == animate_draw.BODY_COLORS[9]
    # the middle of the right shin (limb 8, points 10-11 counted from 1: knee to ankle) is the
    # limb's colour at 60%
    mx, my = int(body[9:11, 0].mean()), int(body[9:11, 1].mean())
    assert animate_draw.LIMBS[8] == (10, 11)
    assert tuple(canvas[my, mx]) == tuple(int(c * 0.6) for c in animate_draw.BODY_COLORS[8])


def test_low_scores_head_and_hands_switches():
    body = _standing_body(300, 300)
    hand = np.zeros((21, 3))
    hand[:, 0] = np.linspace(60, 100, 21)
    hand[:, 1] = 150
    hand[:, 2] = 0.9
    with_all = animate_draw.draw_pose(300, 300, body, hand, hand)
    without_head = animate_draw.draw_pose(300, 300, body, hand, hand, head=False)
    no_hands = animate_draw.draw_pose(300, 300, body, hand, hand, hand_stick_width=0)
    nx, ny = int(body[0, 0]), int(body[0, 1])
    assert tuple(with_all[ny, nx]) == animate_draw.BODY_COLORS[0]
    assert tuple(without_head[ny, nx]) == (0, 0, 0)  # no nose, eyes, ears, nor limbs to them
    assert tuple(with_all[150, 80]) != (0, 0, 0) and tuple(no_hands[150, 80]) == (0, 0, 0)
    low = body.copy()
    low[:, 2] = 0.4  # under the 0.5 threshold: nothing drawn
    assert not animate_draw.draw_pose(300, 300, low, hand * 0, hand * 0).any()


# --- the nodes --------------------------------------------------------------------------------


def _detection_models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_tiny_yolo_e2e(root / "detection" / "yolov10m.onnx")
    write_tiny_vitpose(root / "detection" / "vitpose_h_wholebody_model.onnx")
    return root


def test_nodes_run_end_to_end_on_the_tiny_models(tmp_path):
    ctx = ExecContext(models=ModelRoots((_detection_models(tmp_path),)))
    (model,) = node("OnnxDetectionModelLoader")(ctx, vitpose_model="vitpose_h_wholebody_model.onnx",
                                                yolo_model="yolov10m.onnx", onnx_device="CPUExecutionProvider")
    assert isinstance(model, PoseModel)
    images = torch.rand(5, 240, 416, 3)
    pose_data, faces, points, bboxes, face_bboxes = node("PoseAndFaceDetection")(ctx, model=model, images=images)
    assert isinstance(pose_data, PoseData) and len(pose_data.poses) == 5
    assert faces.shape == (5, 512, 512, 3) and faces.dtype == torch.float32
    # the tiny detector's big person (200, 80, 440, 560 in its 640 input) in frame pixels, truncated
    box = yolo.detect_person(model.yolo, images[0].numpy())
    assert bboxes == [tuple(int(v) for v in box[:4])] and box[4] > 0
    assert len(json.loads(points)) == 8 and len(face_bboxes) == 5
    for (x1, y1, x2, y2), face, frame in zip(face_bboxes, faces, images):
        assert 0 <= x1 < x2 <= 416 and 0 <= y1 < y2 <= 240
        expected = resize_linear_float(frame.numpy()[y1:y2, x1:x2], (512, 512))
        np.testing.assert_allclose(face.numpy(), expected, atol=1e-6)
    # keypoints are the ViTPose decode of each frame's crop
    kps = vitpose.estimate(model.vitpose, images[2].numpy(), vitpose.usable_box(
        yolo.detect_person(model.yolo, images[2].numpy()), 240, 416))
    np.testing.assert_allclose(pose_data.poses[2].body, animate_meta.split(kps, 416, 240)[0])
    (drawn,) = node("DrawViTPose")(ctx, pose_data=pose_data, width=416, height=240)
    assert drawn.shape == (5, 240, 416, 3) and drawn.max() <= 1 and drawn.sum() > 0
    pose = pose_data.poses[0]
    expected = animate_draw.draw_pose(240, 416, pose.pixels(pose.body), pose.pixels(pose.left_hand),
                                      pose.pixels(pose.right_hand))
    np.testing.assert_array_equal((drawn[0] * 255).round().byte().numpy(), expected)


def test_face_padding_grows_the_face_boxes(tmp_path):
    ctx = ExecContext(models=ModelRoots((_detection_models(tmp_path),)))
    (model,) = node("OnnxDetectionModelLoader")(ctx, vitpose_model="vitpose_h_wholebody_model.onnx",
                                                yolo_model="yolov10m.onnx", onnx_device="CPUExecutionProvider")
    images = torch.rand(1, 240, 416, 3)
    plain = node("PoseAndFaceDetection")(ctx, model=model, images=images)[4][0]
    padded = node("PoseAndFaceDetection")(ctx, model=model, images=images, face_padding=20)[4][0]
    assert padded == (max(0, plain[0] - 20), max(0, plain[1] - 20), min(416, plain[2] + 20), min(240, plain[3] + 20))


def test_retargeting_and_missing_files_are_clear_errors(tmp_path):
    ctx = ExecContext(models=ModelRoots((_detection_models(tmp_path),)))
    with pytest.raises(NodeInputError) as err:
        node("OnnxDetectionModelLoader")(ctx, vitpose_model="vitpose-l-wholebody.onnx", yolo_model="yolov10m.onnx")
    assert err.value.input_name == "vitpose_model" and "detection" in err.value.hint
    (model,) = node("OnnxDetectionModelLoader")(ctx, vitpose_model="vitpose_h_wholebody_model.onnx",
                                                yolo_model="yolov10m.onnx", onnx_device="CPUExecutionProvider")
    with pytest.raises(NodeInputError) as err:
        node("PoseAndFaceDetection")(ctx, model=model, images=torch.rand(1, 64, 64, 3),
                                     retarget_image=torch.rand(1, 64, 64, 3))
    assert err.value.input_name == "retarget_image"


def test_onnx_stand_ins_and_preflight(tmp_path):
    standin = family_for("OnnxDetectionModelLoader", "vitpose_model", "detection", "vitpose-l-wholebody.onnx")
    det = family_for("OnnxDetectionModelLoader", "yolo_model", "detection", "yolov10b.onnx")
    root = write_standins([standin, det], tmp_path / "tiny", cache=tmp_path / "cache")
    for rel in ("detection/vitpose-l-wholebody.onnx", "detection/yolov10b.onnx"):
        path = root / rel
        onnx.checker.check_model(onnx.load(str(path)))
        assert check_model_file(path, "detection").layout == "onnx"
    assert load_onnx(root / "detection/vitpose-l-wholebody.onnx").run(
        np.zeros((1, 3, 256, 192), np.float32))[0].shape == (1, 133, 64, 48)
    assert load_onnx(root / "detection/yolov10b.onnx").run(
        np.zeros((1, 3, 640, 640), np.float32))[0].shape == (1, 300, 6)
    fake = tmp_path / "detection" / "fake.onnx"
    fake.parent.mkdir()
    fake.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
    with pytest.raises(Exception, match="LFS"):
        check_model_file(fake, "detection")
