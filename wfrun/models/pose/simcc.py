"""Top-down keypoints from a SimCC pose network (RTMPose / DWPose), as the pose packs run it
(``dw_onnx/cv_ox_pose.py``):

- each person box becomes a centre and a size padded by 1.25, widened or heightened to the
  network's aspect ratio; the frame is warped (OpenCV bilinear, black border) so that box fills
  the input, and normalised with ImageNet's mean and deviation in 0..255 levels;
- the network gives, per keypoint, a score per half pixel along x and along y; the location is
  each axis' best bin divided by 2, the score the smaller of the two maxima (a location is -1
  where that score is not positive), and locations are mapped back through the box.

Arithmetic follows the packs' numpy types: boxes and locations float32, warp matrices float64.
"""

from __future__ import annotations

import numpy as np

from wfrun.models.pose.onnx_runtime import OnnxModel
from wfrun.models.pose.resample import affine_transform, warp_affine_linear

MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])
PADDING = 1.25
SPLIT_RATIO = 2.0


def box_to_centre_scale(box: np.ndarray, padding: float = PADDING) -> tuple[np.ndarray, np.ndarray]:
    """``(x1, y1, x2, y2)`` to its centre and padded ``(w, h)``."""
    x1, y1, x2, y2 = box[0:1], box[1:2], box[2:3], box[3:4]
    centre = np.hstack([x1 + x2, y1 + y2]) * 0.5
    scale = np.hstack([x2 - x1, y2 - y1]) * padding
    return centre, scale


def fit_aspect(scale: np.ndarray, aspect: float) -> np.ndarray:
    """Grow the short side of ``(w, h)`` so that ``w / h == aspect``."""
    w, h = scale[0:1], scale[1:2]
    return np.where(w > h * aspect, np.hstack([w, w / aspect]), np.hstack([h * aspect, h]))


def crop_matrix(centre: np.ndarray, scale: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The 2x3 warp taking the box (centre, ``(w, h)``) onto an output of ``size`` ``(w, h)``:
    built from three point pairs (centre, the point half a width above it, and that point
    turned a quarter about the second), as the packs do, so the float32 rounding is theirs."""
    src_half = np.array([0.0, scale[0] * -0.5])
    dst_w, dst_h = size
    dst_half = np.array([0.0, dst_w * -0.5])

    def third(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = a - b
        return b + np.r_[-d[1], d[0]]

    src = np.zeros((3, 2), np.float32)
    src[0] = centre
    src[1] = centre + src_half
    src[2] = third(src[0], src[1])
    dst = np.zeros((3, 2), np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_half
    dst[2] = third(dst[0], dst[1])
    return affine_transform(src, dst)


def crop(image: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised ``[h, w, 3]`` float64 crop of one box, its centre and its fitted scale."""
    centre, scale = box_to_centre_scale(np.asarray(box))
    scale = fit_aspect(scale, size[0] / size[1])
    warped = warp_affine_linear(image, crop_matrix(centre, scale, size), size)
    return (warped - MEAN) / STD, centre, scale


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best bins ``[N, K, 2]`` (float32) and scores ``[N, K]`` of SimCC outputs ``[N, K, bins]``."""
    n, k, _ = simcc_x.shape
    sx, sy = simcc_x.reshape(n * k, -1), simcc_y.reshape(n * k, -1)
    locs = np.stack((np.argmax(sx, axis=1), np.argmax(sy, axis=1)), axis=-1).astype(np.float32)
    vals = np.minimum(np.amax(sx, axis=1), np.amax(sy, axis=1))
    locs[vals <= 0.0] = -1
    return locs.reshape(n, k, 2), vals.reshape(n, k)


def to_frame(locs: np.ndarray, size: tuple[int, int], centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Bins of one crop to frame pixels."""
    return locs / SPLIT_RATIO / np.array(size) * scale + centre - scale / 2


def estimate(model: OnnxModel, image: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
             dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``[n, K, 2]`` and scores ``[n, K]`` for each box, in frame pixels. All crops go
    through the network in one batch unless the file fixes its batch size (then one by one)."""
    crops = [crop(image, box, size) for box in boxes]
    batch = np.stack([c[0] for c in crops]).transpose(0, 3, 1, 2).astype(dtype)
    step = model.fixed_batch or len(crops)
    xs, ys = [], []
    for start in range(0, len(crops), step):
        part = batch[start:start + step]
        if len(part) < step:  # a fixed batch larger than what is left: pad with zeros
            part = np.concatenate([part, np.zeros((step - len(part), *part.shape[1:]), part.dtype)])
        outputs = model.run(part)
        if len(outputs) < 2 or outputs[0].ndim != 3:
            raise ValueError(f"the pose model gave {len(outputs)} outputs of shapes "
                             f"{[tuple(o.shape) for o in outputs]}; a SimCC model gives simcc_x and simcc_y "
                             "[batch, keypoints, bins]")
        take = min(step, len(crops) - start)
        xs.append(outputs[0][:take].astype(np.float32))
        ys.append(outputs[1][:take].astype(np.float32))
    locs, scores = simcc_maximum(np.concatenate(xs), np.concatenate(ys))
    points = np.stack([to_frame(locs[i], size, crops[i][1], crops[i][2]) for i in range(len(crops))])
    return points, scores
