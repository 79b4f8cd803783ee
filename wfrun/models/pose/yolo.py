"""The person detector of ComfyUI-WanAnimatePreprocess (``models/onnx_models.py``, class
``Yolo``): an Ultralytics YOLO ONNX export with end-to-end output (YOLOv10: ``[1, 300, 6]``
rows of ``x1, y1, x2, y2, score, class`` in input pixels), run as the pack runs it:

- input: the frame (float 0..1, RGB) stretched to 640x640 by OpenCV's bilinear resize, no
  letterbox, as ``[1, 3, 640, 640]`` float32;
- rows scoring at least 0.05 are kept, scaled back to the frame by ``W / 640`` and ``H / 640``
  and truncated to integer ``x, y, w, h`` boxes;
- OpenCV's ``dnn.NMSBoxes`` (score above 0.05, IoU threshold 0.5, best first with ties in row
  order, areas ``w * h`` without the +1 pixel);
- of the people (class 0) scoring above 0.05, the largest by area whose longer side is at least
  0.4 of the longest person box seen so far (``select_type='max'``, ``strict``) is the frame's
  person: ``x1, y1, x2, y2, score``. No person: the whole frame with score -1.

Differences: the pack's other output layout (``[1, 84, anchors]``, YOLOv8) reaches its decoder
transposed the wrong way and gives no usable boxes; wfrun refuses it with a message instead.
"""

from __future__ import annotations

import numpy as np

from wfrun.models.pose.onnx_runtime import OnnxModel
from wfrun.models.pose.resample import resize_linear_float

INPUT_SIZE = 640
SCORE_MIN = 0.05
NMS_IOU = 0.5
SHAPE_RATIO = 0.4
PERSON_CLASS = 0


def network_input(image: np.ndarray) -> np.ndarray:
    """``[1, 3, 640, 640]`` float32 from a float ``[H, W, 3]`` frame in 0..1."""
    resized = resize_linear_float(image, (INPUT_SIZE, INPUT_SIZE))
    return np.ascontiguousarray(resized.transpose(2, 0, 1))[None]


def nms_rects(boxes: np.ndarray, scores: np.ndarray, score_min: float = SCORE_MIN, iou: float = NMS_IOU) -> list[int]:
    """``cv2.dnn.NMSBoxes`` on integer ``[n, 4]`` ``x, y, w, h`` boxes: indices kept, best first."""
    scores = np.asarray(scores, np.float32)
    candidates = [i for i in np.argsort(-scores, kind="stable") if scores[i] > np.float32(score_min)]
    kept: list[int] = []
    for i in candidates:
        if all(_rect_iou(boxes[i], boxes[j]) <= iou for j in kept):
            kept.append(int(i))
    return kept


def _rect_iou(a: np.ndarray, b: np.ndarray) -> float:
    """OpenCV's ``Rect`` overlap: intersection over union of integer rectangles (1 when both are empty)."""
    area_a, area_b = int(a[2]) * int(a[3]), int(b[2]) * int(b[3])
    if area_a + area_b <= 0:
        return 1.0
    inter = 0
    if a[2] > 0 and a[3] > 0 and b[2] > 0 and b[3] > 0:
        w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        inter = int(w) * int(h) if w > 0 and h > 0 else 0
    return inter / (area_a + area_b - inter)


def detections(output: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[n, 6]`` rows ``x1, y1, x2, y2, score, class`` (frame pixels, integer corners) after
    suppression, from one image's ``[rows, 6]`` network output."""
    rows = np.asarray(output, np.float32).reshape(-1, 6)
    scores = rows[:, 4]
    keep = scores >= np.float32(SCORE_MIN)
    rows = rows[keep]
    boxes = rows[:, :4].copy()
    boxes[:, [0, 2]] *= width / INPUT_SIZE
    boxes[:, [1, 3]] *= height / INPUT_SIZE
    boxes[:, 2] = boxes[:, 2] - boxes[:, 0]
    boxes[:, 3] = boxes[:, 3] - boxes[:, 1]
    boxes = boxes.astype(np.int32)
    kept = nms_rects(boxes, rows[:, 4])
    out = [[int(b[0]), int(b[1]), int(b[0] + b[2]), int(b[1] + b[3]), float(rows[i, 4]), float(rows[i, 5])]
           for i in kept for b in (boxes[i],)]
    return np.array(out, np.float64).reshape(-1, 6)


def select_person(rows: np.ndarray, height: int, width: int) -> np.ndarray:
    """The frame's person ``x1, y1, x2, y2, score`` (the whole frame and -1 when there is none)."""
    fallback = np.array([0.0, 0.0, float(width), float(height), -1.0])
    people = [r for r in rows if r[5] == PERSON_CLASS and r[4] > SCORE_MIN]
    if not people:
        return fallback
    longest = max(max(r[2] - r[0], r[3] - r[1]) for r in people)
    best, best_size = -1, height * width * -10
    for i, r in enumerate(people):
        size = (r[2] - r[0]) * (r[3] - r[1])
        shape = max(r[2] - r[0], r[3] - r[1])
        if size > best_size:
            if shape < longest * SHAPE_RATIO:
                continue
            best, best_size, longest = i, size, shape
    return np.array(people[best][:5], np.float64) if best >= 0 else fallback


def detect_person(model: OnnxModel, image: np.ndarray) -> np.ndarray:
    """The person box ``x1, y1, x2, y2, score`` of a float ``[H, W, 3]`` frame in 0..1."""
    height, width = image.shape[:2]
    output = model.run(network_input(image))[0]
    if output.ndim != 3 or output.shape[-1] != 6:
        raise ValueError(f"the detector gave an output of shape {tuple(output.shape)}; the pack decodes "
                         "end-to-end YOLO exports (YOLOv10) giving [1, rows, 6] (x1, y1, x2, y2, score, class)")
    return select_person(detections(output[0], height, width), height, width)
