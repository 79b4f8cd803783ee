"""CameraPoseVisualizer (KJNodes ``nodes/nodes.py``, 2024-04-22 on): CameraCtrl poses
(AnimateDiff-Evolved's CAMERACTRL_POSES, or a RealEstate10K pose file) drawn as camera
pyramids, one per frame, coloured by frame.

The geometry is the pack's: each pose's world-to-camera ``[R | t]`` (numbers 7-18) made a
4x4; with ``relative_c2w`` the cameras relative to the first (``c2w'_0 = I``,
``c2w'_i = w2c_0 · inv(w2c_i)``), else ``inv(w2c_i)``; then turned z-up (``y → -z``,
``z → y``); a pyramid of half-width ``base_xval`` and depth ``zval`` (with
``use_exact_fx`` the pose's ``fx`` instead) in a cube of ``±2·scale``.

Where wfrun differs: the pack renders with matplotlib (3-D axes with perspective, grid,
ticks, a colour bar, cropped tight), which wfrun does not depend on; wfrun draws the same
pyramids in the same default view and colours with PIL (``wfrun.media.camera_plot``):
an orthographic picture of fixed size (1800x700) without axes or colour bar.
``use_viewer`` (an interactive matplotlib window) is ignored. ``pose_file_path`` is read
only inside the input folder (the pack opens any path).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wfrun.media.camera_plot import draw_cameras
from wfrun.media.image import MediaPathError, existing_inside
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The pack's turn of the cameras into the plot's z-up axes.
Z_UP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def _from_file(ctx: ExecContext, name: str) -> list[list[float]]:
    """A RealEstate10K / CameraCtrl pose file: a first line (its source) skipped, then one
    pose a line, numbers separated by single spaces."""
    try:
        path = existing_inside(ctx.input_dir, name, "pose file")
    except MediaPathError as err:
        raise NodeInputError("pose_file_path", str(err), "put the pose file in the input folder, or connect "
                             "cameractrl_poses") from None
    lines = path.read_text(errors="replace").splitlines()[1:]
    try:
        return [[float(v) for v in line.strip().split(" ")] for line in lines if line.strip()]
    except ValueError:
        raise NodeInputError("pose_file_path", f"{name} has a line that is not numbers separated by spaces") from None


def _matrices(poses: Any) -> tuple[list[np.ndarray], list[float]]:
    if not isinstance(poses, (list, tuple)) or not poses:
        raise NodeInputError("cameractrl_poses", "no camera poses to draw",
                             "connect an ADE camera pose node, or give a pose_file_path")
    w2cs, fxs = [], []
    for n, pose in enumerate(poses):
        try:
            values = [float(v) for v in pose]
        except (TypeError, ValueError):
            raise NodeInputError("cameractrl_poses", f"pose {n} is not a list of numbers") from None
        if len(values) != 19 or not all(math.isfinite(v) for v in values):
            raise NodeInputError("cameractrl_poses", f"pose {n} has {len(values)} numbers (or a non-finite one), "
                                 "not the 19 of a CameraCtrl pose")
        m = np.eye(4)
        m[:3] = np.asarray(values[7:], dtype=np.float64).reshape(3, 4)
        w2cs.append(m)
        fxs.append(values[1])
    return w2cs, fxs


def plotted_cameras(w2cs: list[np.ndarray], relative: bool) -> list[np.ndarray]:
    """The pack's ``get_c2w``: camera-to-world matrices as plotted."""
    if relative:
        c2ws = [np.eye(4)] + [w2cs[0] @ np.linalg.inv(w) for w in w2cs[1:]]
    else:
        c2ws = [np.linalg.inv(w) for w in w2cs]
    return [(Z_UP @ c).astype(np.float32) for c in c2ws]


@executor("CameraPoseVisualizer")
def camera_pose_visualizer(ctx: ExecContext, pose_file_path: str, base_xval: float, zval: float, scale: float,
                           use_exact_fx: bool, relative_c2w: bool, use_viewer: bool,
                           cameractrl_poses: Any = None, **_: Any) -> tuple:
    if float(scale) <= 0:
        raise NodeInputError("scale", f"scale = {scale}: it must be above 0")
    poses = _from_file(ctx, str(pose_file_path)) if str(pose_file_path) != "" else cameractrl_poses
    w2cs, fxs = _matrices(poses)
    cameras = plotted_cameras(w2cs, bool(relative_c2w))
    zvals = fxs if use_exact_fx else [float(zval)] * len(cameras)
    image = draw_cameras(cameras, float(base_xval), zvals, float(scale))
    return (torch.from_numpy(image)[None],)
