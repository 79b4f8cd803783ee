"""Tiny random stand-ins for the pose packs' ONNX models, in their real input and output names
and shapes, so ``--smoke`` and the tests run the whole pipeline in milliseconds.

- the YOLOX detector (``yolox_l.onnx`` and its kin): ``images`` ``[1, 3, 640, 640]`` →
  ``output`` ``[1, 8400, 85]`` (per anchor of the stride-8/16/32 grids: box offsets and log
  sizes, then objectness and 80 class scores, both already sigmoid-ed as the release does);
- the RTMPose/DWPose estimator (``dw-ll_ucoco_384.onnx``): ``input`` ``[batch, 3, H, W]`` →
  ``simcc_x`` ``[batch, 133, 2W]`` and ``simcc_y`` ``[batch, 133, 2H]``.

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
