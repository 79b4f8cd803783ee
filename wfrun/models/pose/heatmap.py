"""Keypoints from a heatmap pose network (ViTPose), decoded as ComfyUI-WanAnimatePreprocess
does it (MMPose's ``keypoints_from_heatmaps`` with ``unbiased=True``, kernel 11, no UDP):

- each keypoint's location is the best cell of its heatmap (``x`` is the column), its score that
  cell's value; a keypoint whose best value is not positive is placed at ``(-1, -1)``;
- the location is then refined to sub-cell precision by DARK (Zhang et al., CVPR 2020): the
  heatmap is blurred by an 11-tap Gaussian (sigma 2, zeros beyond the edges) and rescaled so its
  peak keeps its height, its log is taken (floored at 1e-10), and one Newton step is made from
  the best cell with the log's gradient (central differences) and Hessian (differences two cells
  apart on the diagonal, the four diagonal neighbours for the cross term); cells nearer than two
  to the border and singular Hessians are left as they are;
- cells map back to the frame through the crop box: ``x * box_w / W + cx - box_w / 2`` (and the
  same for ``y``), the box given by its centre and its size in pixels.

Locations and scores are float32 as the pack's arrays are; the refinement is computed in
float64 and stored in float32.
"""

from __future__ import annotations

import numpy as np

KERNEL = 11
LOG_FLOOR = 1e-10


def best_cells(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[N, K, 2]`` float32 ``(x, y)`` of each heatmap's best cell and ``[N, K, 1]`` its value;
    ``-1`` where that value is not positive."""
    n, k, _, width = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    index = np.argmax(flat, axis=2)
    values = np.take_along_axis(flat, index[..., None], axis=2).astype(np.float32)
    cells = np.stack([index % width, index // width], axis=-1).astype(np.float32)
    cells[values[..., 0] <= 0.0] = -1.0
    return cells, values


def gaussian_kernel(size: int = KERNEL) -> np.ndarray:
    """OpenCV's Gaussian taps for ``size`` with its default sigma ``0.3 * ((size - 1) / 2 - 1) + 0.8``."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(offsets ** 2) / (2 * sigma * sigma))
    return taps / taps.sum()


def modulate(heatmaps: np.ndarray, size: int = KERNEL) -> np.ndarray:
    """Heatmaps ``[..., H, W]`` each blurred (zeros outside) and rescaled to its former peak."""
    taps = gaussian_kernel(size)
    border = size // 2
    height, width = heatmaps.shape[-2:]
    pad = [(0, 0)] * (heatmaps.ndim - 2) + [(border, border), (border, border)]
    padded = np.pad(heatmaps.astype(np.float64), pad)
    rows = sum(taps[i] * padded[..., :, i:i + width] for i in range(size))
    blurred = sum(taps[i] * rows[..., i:i + height, :] for i in range(size))
    peak = blurred.max(axis=(-2, -1), keepdims=True)
    original = heatmaps.max(axis=(-2, -1), keepdims=True).astype(np.float64)
    # the pack divides by the blurred peak; an all-zero heatmap stays zero here
    factor = np.divide(original, peak, out=np.ones_like(peak), where=peak != 0)
    return (blurred * factor).astype(np.float32)


def refine(log_maps: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """One Newton step of each log heatmap's quadratic model (``[..., H, W]``) from its cell
    (``[..., 2]``, ``(x, y)``); cells too near the border or with a singular Hessian stay."""
    height, width = log_maps.shape[-2:]
    maps = log_maps.reshape(-1, height, width).astype(np.float64)
    flat = cells.reshape(-1, 2)
    px, py = flat[:, 0].astype(np.int64), flat[:, 1].astype(np.int64)  # truncation, as int()
    inside = (px > 1) & (px < width - 2) & (py > 1) & (py < height - 2)
    i = np.arange(len(maps))
    x, y = np.where(inside, px, 2), np.where(inside, py, 2)

    def at(dy: int, dx: int) -> np.ndarray:
        return maps[i, y + dy, x + dx]

    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    move = inside & (det != 0)
    safe = np.where(move, det, 1.0)
    # minus the inverse of [[dxx, dxy], [dxy, dyy]] times the gradient
    ox = -(dyy * dx - dxy * dy) / safe
    oy = -(dxx * dy - dxy * dx) / safe
    out = flat.astype(np.float64)
    out[move, 0] += ox[move]
    out[move, 1] += oy[move]
    return out.astype(np.float32).reshape(cells.shape)


def decode(heatmaps: np.ndarray, centres: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixels ``[N, K, 2]`` and scores ``[N, K, 1]`` from heatmaps ``[N, K, H, W]``, each
    sample's crop box given by its centre ``[N, 2]`` and size ``[N, 2]`` (``w, h`` in pixels)."""
    heatmaps = np.asarray(heatmaps, np.float32)
    n, k, height, width = heatmaps.shape
    cells, scores = best_cells(heatmaps)
    cells = refine(np.log(np.maximum(modulate(heatmaps), LOG_FLOOR)), cells)
    points = np.ones_like(cells)
    for i in range(n):
        size = np.asarray(sizes[i], np.float64)
        centre = np.asarray(centres[i], np.float64)
        points[i, :, 0] = cells[i, :, 0] * (size[0] / width) + centre[0] - size[0] * 0.5
        points[i, :, 1] = cells[i, :, 1] * (size[1] / height) + centre[1] - size[1] * 0.5
    return points, scores
