"""The YOLOX person detector around its ONNX network, as the DWPose code of the pose packs runs
it (``dw_onnx/cv_ox_det.py``):

- letterbox: the frame scaled by ``r = min(640 / H, 640 / W)`` (OpenCV bilinear, sides
  truncated) into the top-left of a 640x640 canvas of grey 114, as float32 ``[1, 3, 640, 640]``
  levels 0..255 in the frame's own channel order (the packs pass RGB);
- decode: each anchor of the stride-8, 16 and 32 grids (rows of cells, ``x`` fastest) turns its
  offsets into a centre ``(offset + cell) * stride`` and its log sizes into ``exp(.) * stride``;
  boxes to corners, divided by ``r``; scores are objectness times class score;
- suppression: greedy NMS per class over scores above 0.1 at IoU 0.45 (areas with the ``+1``
  pixel convention), then only people (class 0) scoring above 0.3, best first.

The packs suppress every class and then keep people; suppression is per class, so doing it for
class 0 alone gives the same boxes. Arithmetic stays in float32 as the output array is.
"""

from __future__ import annotations

import numpy as np

from wfrun.models.pose.onnx_runtime import OnnxModel
from wfrun.models.pose.resample import resize_linear

INPUT_SIZE = (640, 640)
STRIDES = (8, 16, 32)
PAD_LEVEL = 114
NMS_IOU = 0.45
SCORE_MIN = 0.1
PERSON_MIN = 0.3


def letterbox(image: np.ndarray, size: tuple[int, int] = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """The network input ``[1, 3, H, W]`` float32 and the scale ``r`` of the frame in it."""
    height, width = image.shape[:2]
    r = min(size[0] / height, size[1] / width)
    new_h, new_w = int(height * r), int(width * r)
    canvas = np.full((size[0], size[1], 3), PAD_LEVEL, np.uint8)
    canvas[:new_h, :new_w] = resize_linear(image, (new_h, new_w))
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32)[None], r


def decode(output: np.ndarray, size: tuple[int, int] = INPUT_SIZE) -> np.ndarray:
    """``[anchors, 85]`` raw rows to centres and sizes in input pixels (a new array)."""
    grids, strides = [], []
    for stride in STRIDES:
        rows, cols = size[0] // stride, size[1] // stride
        xv, yv = np.meshgrid(np.arange(cols), np.arange(rows))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((rows * cols, 1), stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    out = output.copy()
    out[:, :2] = (out[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(out[:, 2:4]) * stride
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Greedy suppression: indices kept, best score first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[overlap <= iou]
    return keep


def people_from_output(output: np.ndarray, ratio: float) -> np.ndarray:
    """``[n, 4]`` person boxes (x1, y1, x2, y2 in frame pixels) from the raw ``[1, anchors, 85]``."""
    rows = decode(np.asarray(output)[0])
    centre, size = rows[:, :2], rows[:, 2:4]
    boxes = np.concatenate([centre - size / 2.0, centre + size / 2.0], axis=1) / ratio
    scores = rows[:, 4] * rows[:, 5]
    valid = scores > SCORE_MIN
    boxes, scores = boxes[valid], scores[valid]
    if not len(scores):
        return np.zeros((0, 4), np.float32)
    keep = nms(boxes, scores)
    boxes, scores = boxes[keep], scores[keep]
    return boxes[scores > PERSON_MIN]


def detect_people(model: OnnxModel, image: np.ndarray) -> np.ndarray:
    """Person boxes in a ``uint8`` ``[H, W, 3]`` frame."""
    pixels, ratio = letterbox(image)
    outputs = model.run(pixels)
    output = outputs[0]
    if output.ndim != 3 or output.shape[-1] < 6:
        raise ValueError(f"the detector gave an output of shape {tuple(output.shape)}; a YOLOX model gives "
                         "[1, anchors, 5 + classes]")
    return people_from_output(output.astype(np.float32, copy=False), ratio)
