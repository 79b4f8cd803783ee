"""Tiny random stand-ins for the pose packs' ONNX models, in their real input and output names
and shapes, so ``--smoke`` and the tests run the whole pipeline in milliseconds.

- the YOLOX detector (``yolox_l.onnx`` and its kin): ``images`` ``[1, 3, 640, 640]`` →
  ``output`` ``[1, 8400, 85]`` (per anchor of the stride-8/16/32 grids: box offsets and log
  sizes, then objectness and 80 class scores, both already sigmoid-ed as the release does);
- the RTMPose/DWPose estimator (``dw-ll_ucoco_384.onnx``): ``input`` ``[batch, 3, H, W]`` →
  ``simcc_x`` ``[batch, 133, 2W]`` and ``simcc_y`` ``[batch, 133, 2H]``;
- the end-to-end YOLO detector of ComfyUI-WanAnimatePreprocess (``yolov10m.onnx``):
  ``images`` ``[1, 3, 640, 640]`` → ``output0`` ``[1, 300, 6]`` (corners, score, class);
- its ViTPose whole-body estimator (``vitpose_h_wholebody_model.onnx``): ``input``
  ``[batch, 3, 256, 192]`` → ``heatmaps`` ``[batch, 133, 64, 48]``.

Each is a pooled image through a 1x1 convolution (and, for the pose net, one matrix per axis);
the detector's boxes are all pulled to one place (a constant added to the offsets) so the
suppression keeps about one person, and its biases make that person likely, so every stage
after the networks has work to do.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from wfrun.models.pose.onnx_write import Node, write_model

YOLOX_INPUT = (640, 640)
YOLOX_STRIDES = (8, 16, 32)
YOLOX_CHANNELS = 85
WHOLEBODY_POINTS = 133
SIMCC_RATIO = 2
POSE_POOL = 32
#: Where the tiny detector puts its boxes, in letterbox pixels: the letterbox fills from the
#: top left, so this is inside any frame of aspect up to 2:1 either way.
BOX_CENTRE, BOX_SIZE = (150.0, 150.0), 200.0


def write_tiny_yolox(path: str | Path, seed: int = 0) -> Path:
    """A tiny detector with the YOLOX ONNX release's interface."""
    rng = np.random.default_rng(seed)
    nodes: list[Node] = []
    init: dict[str, np.ndarray] = {}
    flat, priors = [], []
    for stride in YOLOX_STRIDES:
        cells = (YOLOX_INPUT[0] // stride) * (YOLOX_INPUT[1] // stride)
        weight = (rng.standard_normal((YOLOX_CHANNELS, 3, 1, 1)) * 1e-3).astype(np.float32)
        bias = np.full(YOLOX_CHANNELS, -6.0, np.float32)
        bias[:2] = 0.0
        bias[2:4] = math.log(BOX_SIZE / stride)
        bias[4] = 1.0 + stride / 16.0  # the coarsest grid is surest
        bias[5] = 2.0  # class 0, person
        init[f"w{stride}"], init[f"b{stride}"] = weight, bias
        init[f"shape{stride}"] = np.array([1, YOLOX_CHANNELS, cells], np.int64)
        rows, cols = YOLOX_INPUT[0] // stride, YOLOX_INPUT[1] // stride
        xv, yv = np.meshgrid(np.arange(cols), np.arange(rows))
        cell = np.stack((xv, yv)).reshape(2, -1)
        prior = np.zeros((YOLOX_CHANNELS, cells), np.float32)  # every box centred near BOX_CENTRE
        prior[:2] = np.array(BOX_CENTRE, np.float32)[:, None] / stride - cell
        priors.append(prior)
        nodes += [Node("AveragePool", ["images"], [f"pool{stride}"], {"kernel_shape": [stride, stride],
                                                                      "strides": [stride, stride]}),
                  Node("Conv", [f"pool{stride}", f"w{stride}", f"b{stride}"], [f"head{stride}"]),
                  Node("Reshape", [f"head{stride}", f"shape{stride}"], [f"flat{stride}"])]
        flat.append(f"flat{stride}")
    init["starts_box"], init["ends_box"] = np.array([0], np.int64), np.array([4], np.int64)
    init["starts_cls"], init["ends_cls"] = np.array([4], np.int64), np.array([YOLOX_CHANNELS], np.int64)
    init["axis"] = np.array([2], np.int64)
    init["prior"] = np.concatenate(priors, axis=1)[None]
    nodes += [Node("Concat", flat, ["all"], {"axis": 2}),
              Node("Add", ["all", "prior"], ["placed"]),
              Node("Transpose", ["placed"], ["anchors"], {"perm": [0, 2, 1]}),
              Node("Slice", ["anchors", "starts_box", "ends_box", "axis"], ["box"]),
              Node("Slice", ["anchors", "starts_cls", "ends_cls", "axis"], ["logits"]),
              Node("Sigmoid", ["logits"], ["probs"]),
              Node("Concat", ["box", "probs"], ["output"], {"axis": 2})]
    anchors = sum((YOLOX_INPUT[0] // s) * (YOLOX_INPUT[1] // s) for s in YOLOX_STRIDES)
    return write_model(path, nodes, {"images": [1, 3, *YOLOX_INPUT]}, {"output": [1, anchors, YOLOX_CHANNELS]},
                       init, name="tiny_yolox")


def write_tiny_rtmpose(path: str | Path, input_size: tuple[int, int] = (288, 384), seed: int = 0) -> Path:
    """A tiny whole-body pose net with the DWPose ONNX release's interface; ``input_size`` is
    ``(width, height)`` as the pack names it."""
    width, height = input_size
    rng = np.random.default_rng(seed)
    cells = (height // POSE_POOL) * (width // POSE_POOL)
    init = {
        "conv_w": (rng.standard_normal((WHOLEBODY_POINTS, 3, 1, 1)) * 0.5).astype(np.float32),
        "conv_b": np.zeros(WHOLEBODY_POINTS, np.float32),
        "shape": np.array([0, WHOLEBODY_POINTS, cells], np.int64),
        "wx": np.abs(rng.standard_normal((cells, width * SIMCC_RATIO))).astype(np.float32),
        "wy": np.abs(rng.standard_normal((cells, height * SIMCC_RATIO))).astype(np.float32),
    }
    nodes = [Node("AveragePool", ["input"], ["pooled"], {"kernel_shape": [POSE_POOL, POSE_POOL],
                                                         "strides": [POSE_POOL, POSE_POOL]}),
             Node("Conv", ["pooled", "conv_w", "conv_b"], ["features"]),
             Node("Relu", ["features"], ["positive"]),
             Node("Reshape", ["positive", "shape"], ["flat"]),
             Node("MatMul", ["flat", "wx"], ["simcc_x"]),
             Node("MatMul", ["flat", "wy"], ["simcc_y"])]
    return write_model(path, nodes, {"input": ["batch", 3, height, width]},
                       {"simcc_x": ["batch", WHOLEBODY_POINTS, width * SIMCC_RATIO],
                        "simcc_y": ["batch", WHOLEBODY_POINTS, height * SIMCC_RATIO]}, init, name="tiny_rtmpose")


YOLO_ROWS = 300
VITPOSE_INPUT = (256, 192)
VITPOSE_STRIDE = 4
#: The tiny end-to-end detector's fixed rows (input pixels): a large person, a small person
#: the selection rule drops, and a car; the other rows score under the threshold.
YOLO_ROWS_FIXED = ((200.0, 80.0, 440.0, 560.0, 0.8, 0.0), (40.0, 420.0, 100.0, 520.0, 0.4, 0.0),
                   (480.0, 400.0, 620.0, 500.0, 0.6, 2.0))


def write_tiny_yolo_e2e(path: str | Path, seed: int = 0) -> Path:
    """A tiny detector with the interface of Ultralytics' end-to-end YOLOv10 ONNX export: the
    image's mean colour moves the fixed rows' boxes and scores a little."""
    rng = np.random.default_rng(seed)
    prior = np.zeros((YOLO_ROWS, 6), np.float32)
    prior[:, :4] = (100.0, 100.0, 120.0, 120.0)
    prior[:, 4] = 0.01
    prior[:len(YOLO_ROWS_FIXED)] = np.array(YOLO_ROWS_FIXED, np.float32)
    weight = np.zeros((3, YOLO_ROWS, 6), np.float32)
    weight[:, :, :4] = rng.standard_normal((3, YOLO_ROWS, 4)) * 20.0
    weight[:, :, 4] = rng.standard_normal((3, YOLO_ROWS)) * 0.05
    init = {"w": weight.reshape(3, -1), "prior": prior.reshape(-1),
            "flat_shape": np.array([1, 3], np.int64), "out_shape": np.array([1, YOLO_ROWS, 6], np.int64)}
    nodes = [Node("GlobalAveragePool", ["images"], ["pooled"]),
             Node("Reshape", ["pooled", "flat_shape"], ["colour"]),
             Node("MatMul", ["colour", "w"], ["moved"]),
             Node("Add", ["moved", "prior"], ["rows"]),
             Node("Reshape", ["rows", "out_shape"], ["output0"])]
    return write_model(path, nodes, {"images": [1, 3, 640, 640]}, {"output0": [1, YOLO_ROWS, 6]}, init,
                       name="tiny_yolov10")


def _vitpose_layout(rng: np.random.Generator) -> np.ndarray:
    """``[133, 2]`` heatmap cells ``(x, y)`` of a standing person on the 48x64 grid: the body
    and feet placed by hand, the face round the nose, each hand round its wrist."""
    body = [(24, 10), (26, 9), (22, 9), (28, 10), (20, 10), (30, 18), (18, 18), (32, 28), (16, 28), (33, 36),
            (15, 36), (28, 36), (20, 36), (28, 48), (20, 48), (28, 58), (20, 58),
            (30, 60), (31, 60), (28, 61), (18, 60), (17, 60), (20, 61)]
    cells = np.zeros((WHOLEBODY_POINTS, 2), np.float64)
    cells[:23] = body
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    cells[23:91] = np.stack([24 + 3 * np.cos(angles), 11 + 3.5 * np.sin(angles)], 1)
    cells[91:112] = np.array(body[9]) + rng.uniform(-3, 3, (21, 2))
    cells[112:133] = np.array(body[10]) + rng.uniform(-3, 3, (21, 2))
    return cells


def write_tiny_vitpose(path: str | Path, seed: int = 0) -> Path:
    """A tiny whole-body ViTPose with the interface of the ONNX exports the pack loads: fixed
    Gaussian bumps (sigma 2 cells, peaks 0.55-0.95) where a standing person's points are, plus
    a little of a pooled 1x1 convolution of the input, so each crop decodes differently."""
    rng = np.random.default_rng(seed)
    height, width = VITPOSE_INPUT[0] // VITPOSE_STRIDE, VITPOSE_INPUT[1] // VITPOSE_STRIDE
    cells = _vitpose_layout(rng) + rng.uniform(-0.4, 0.4, (WHOLEBODY_POINTS, 2))
    peaks = rng.uniform(0.55, 0.95, WHOLEBODY_POINTS)
    ys, xs = np.mgrid[0:height, 0:width]
    bumps = peaks[:, None, None] * np.exp(-((xs[None] - cells[:, 0, None, None]) ** 2
                                            + (ys[None] - cells[:, 1, None, None]) ** 2) / (2 * 2.0 ** 2))
    init = {"conv_w": (rng.standard_normal((WHOLEBODY_POINTS, 3, 1, 1)) * 0.02).astype(np.float32),
            "conv_b": np.zeros(WHOLEBODY_POINTS, np.float32),
            "prior": bumps[None].astype(np.float32)}
    nodes = [Node("AveragePool", ["input"], ["pooled"], {"kernel_shape": [VITPOSE_STRIDE, VITPOSE_STRIDE],
                                                         "strides": [VITPOSE_STRIDE, VITPOSE_STRIDE]}),
             Node("Conv", ["pooled", "conv_w", "conv_b"], ["features"]),
             Node("Add", ["features", "prior"], ["heatmaps"])]
    return write_model(path, nodes, {"input": ["batch", 3, *VITPOSE_INPUT]},
                       {"heatmaps": ["batch", WHOLEBODY_POINTS, height, width]}, init, name="tiny_vitpose")
