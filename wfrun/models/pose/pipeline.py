"""One frame through detector and pose network: the people in it, OpenPose-ordered.

The pose network's input size ``(width, height)`` is read from the file's input shape; a file
with symbolic spatial sizes falls back to the packs' rule on the file name (``384`` in it:
288x384, ``256``: 256x256, else 192x256).
"""

from __future__ import annotations

from pathlib import PurePath

import numpy as np

from wfrun.models.pose import simcc, yolox
from wfrun.models.pose.onnx_runtime import OnnxModel
from wfrun.models.pose.wholebody import Person, people, to_openpose

WHOLEBODY_POINTS = 133


def pose_input_size(model: OnnxModel) -> tuple[int, int]:
    """``(width, height)`` of the pose network's input."""
    shape = model.input_shape
    if len(shape) == 4 and shape[2] and shape[3]:
        return int(shape[3]), int(shape[2])
    name = PurePath(model.path).name
    if "384" in name:
        return 288, 384
    if "256" in name:
        return 256, 256
    return 192, 256


def detect_frame(detector: OnnxModel, estimator: OnnxModel, image: np.ndarray) -> list[Person]:
    """The people in a ``uint8`` RGB ``[H, W, 3]`` frame (none when the detector finds none)."""
    boxes = yolox.detect_people(detector, image)
    if not len(boxes):
        return []
    points, scores = simcc.estimate(estimator, image, boxes, pose_input_size(estimator))
    if points.shape[1] != WHOLEBODY_POINTS:
        raise ValueError(f"the pose model gives {points.shape[1]} keypoints; DWPose's whole-body models give "
                         f"{WHOLEBODY_POINTS}")
    return people(to_openpose(points, scores))
