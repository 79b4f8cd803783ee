"""Top-down whole-body keypoints from a ViTPose ONNX network, as ComfyUI-WanAnimatePreprocess
runs it (``nodes.py``, ``pose_utils/pose2d_utils.py``):

- the person box becomes a centre and a size: the box is grown to the network's aspect
  (256 high by 192 wide) about its centre, then by 1.25 (``bbox_from_detector``); sizes are kept
  in units of 200 pixels as the pack does;
- the crop is the box's integer pixel window (its corners rounded half to even), cut from the
  frame with zeros outside it and resized to 192x256 by OpenCV's float bilinear resize;
- pixels (float 0..1) are normalised by ImageNet's mean and deviation, and the network's
  heatmaps are decoded by ``heatmap.decode`` through the same box.

A box smaller than 10 pixels either way, or a frame without a person, uses the whole frame.
"""

from __future__ import annotations

import numpy as np

from wfrun.models.pose import heatmap
from wfrun.models.pose.onnx_runtime import OnnxModel
from wfrun.models.pose.resample import resize_linear_float

INPUT_HEIGHT, INPUT_WIDTH = 256, 192
RESCALE = 1.25
PIXEL_UNIT = 200.0
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
MIN_BOX = 10


def usable_box(box: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """The detector's ``x1, y1, x2, y2, score``, or the whole frame when it found nobody or a
    box under ``MIN_BOX`` pixels."""
    if box is None or box[-1] <= 0 or (box[2] - box[0]) < MIN_BOX or (box[3] - box[1]) < MIN_BOX:
        return np.array([0, 0, width, height])
    return np.asarray(box)


def box_to_centre_scale(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(x, y)`` and ``(w, h)`` in units of 200 pixels of the crop around ``box``."""
    aspect = INPUT_HEIGHT / float(INPUT_WIDTH)
    centre = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])
    side = max((box[2] - box[0]) * aspect, box[3] - box[1])
    return centre, np.array([side / aspect, side]) / PIXEL_UNIT * RESCALE


def crop_window(centre: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Top-left and bottom-right (exclusive) pixel corners of the crop of height ``200 * scale``:
    the network's input corners mapped back through the crop transform, rounded half to even."""
    h = PIXEL_UNIT * scale
    w = h / (INPUT_HEIGHT / float(INPUT_WIDTH))
    t = np.array([[INPUT_WIDTH / w, 0.0, INPUT_WIDTH * (-float(centre[0]) / w + 0.5)],
                  [0.0, INPUT_HEIGHT / h, INPUT_HEIGHT * (-float(centre[1]) / h + 0.5)],
                  [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(t)
    corners = []
    for x, y in ((0.0, 0.0), (float(INPUT_WIDTH), float(INPUT_HEIGHT))):
        p = inv @ np.array([x, y, 1.0])
        corners.append(np.array([round(p[0]), round(p[1])], dtype=int))
    return corners[0], corners[1]


def crop(image: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The ``[256, 192, C]`` float32 crop of a float frame (zeros outside the frame)."""
    ul, br = crop_window(centre, float(max(scale)))
    shape = (br[1] - ul[1], br[0] - ul[0]) + image.shape[2:]
    if shape[0] <= 0 or shape[1] <= 0:
        return np.zeros((INPUT_HEIGHT, INPUT_WIDTH) + image.shape[2:], np.float32)
    window = np.zeros(shape, np.float32)
    height, width = image.shape[:2]
    nx = max(0, -ul[0]), min(br[0], width) - ul[0]
    ny = max(0, -ul[1]), min(br[1], height) - ul[1]
    ox = max(0, ul[0]), min(width, br[0])
    oy = max(0, ul[1]), min(height, br[1])
    if nx[1] > nx[0] and ny[1] > ny[0]:  # the pack prints and goes on when they do not overlap
        window[ny[0]:ny[1], nx[0]:nx[1]] = image[oy[0]:oy[1], ox[0]:ox[1]]
    return resize_linear_float(window, (INPUT_HEIGHT, INPUT_WIDTH))


def estimate(model: OnnxModel, image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``[K, 3]`` float32 ``x, y, score`` (frame pixels) of a float ``[H, W, 3]`` frame's person in
    ``box`` (``x1, y1, x2, y2``)."""
    centre, scale = box_to_centre_scale(box)
    pixels = (crop(image, centre, scale) - MEAN) / STD
    batch = pixels.transpose(2, 0, 1).astype(np.float32)[None]
    outputs = model.run(batch)
    maps = outputs[0]
    if maps.ndim != 4:
        raise ValueError(f"the pose model gave an output of shape {tuple(maps.shape)}; a ViTPose model gives "
                         "heatmaps [batch, keypoints, height, width]")
    points, scores = heatmap.decode(maps[:1], centre[None], (scale * PIXEL_UNIT)[None])
    return np.concatenate([points, scores], axis=2)[0]
