"""AnimateDiff-Evolved's CameraCtrl pose nodes (``animatediff/nodes_cameractrl.py``, as of
2024-12-29 on: the version Wan workflows of 2025 were saved with).

CAMERACTRL_POSES is a list with one entry per frame, each 19 numbers in CameraCtrl's
RealEstate10K layout: ``[frame, fx, fy, cx, cy, pose_width, pose_height, w2c (3x4, row
after row)]`` — intrinsics as fractions of the image, the original pose size in slots 5
and 6 (unused by CameraCtrl itself; the pack keeps the original aspect ratio there), and
the world-to-camera matrix ``[R | t]``.

- A *motion* is a rotation vector (x, y, z, in units of 60°) and a translation (in units
  of 1.5) per 16 frames: frame ``i`` of a path at ``speed`` has the angles
  ``i/16 · speed · 60° · rotate`` (``R = Rz·Ry·Rx``) and ``t = i/16 · speed · 1.5 ·
  translate``. The 16 is fixed: a longer ``frame_length`` makes a longer path, not a
  slower one (the pack since 2024-12-29; before, frame ``i`` of ``n`` went ``i/n``).
- New poses get CameraCtrl's intrinsics ``fx 0.474812461, fy 0.844111024, cx = cy = 0.5``
  and the pose size 1280x720.
- ``prev_poses`` + new ones (also ManualPoseAppend): the new path continues from the last
  pose of the first, ``R' = R_new·R_last`` and ``t' = t_new + R'·R_lastᵀ·t_last``; each pose
  keeps its own intrinsics and frame number, the matrices come from the joined path.
- Combo/Advanced: the six motions (each times its strength) are summed into one.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

BASE_T_NORM = 1.5
BASE_ANGLE = math.pi / 3
#: Frames per unit of motion: the pack's ``base``.
BASE_FRAMES = 16
DEFAULT_FX, DEFAULT_FY, DEFAULT_CX, DEFAULT_CY = 0.474812461, 0.844111024, 0.5, 0.5
DEFAULT_POSE_WIDTH, DEFAULT_POSE_HEIGHT = 1280, 720
POSE_LENGTH = 19

#: The pack's motion types: (rotate, translate).
MOTIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "Static": ((0, 0, 0), (0, 0, 0)),
    "Pan Up": ((0, 0, 0), (0, 1, 0)),
    "Pan Down": ((0, 0, 0), (0, -1, 0)),
    "Pan Left": ((0, 0, 0), (1, 0, 0)),
    "Pan Right": ((0, 0, 0), (-1, 0, 0)),
    "Zoom In": ((0, 0, 0), (0, 0, -2)),
    "Zoom Out": ((0, 0, 0), (0, 0, 2)),
    "Roll Clockwise": ((0, 0, -1), (0, 0, 0)),
    "Roll Anticlockwise": ((0, 0, 1), (0, 0, 0)),
    "Tilt Down": ((1, 0, 0), (0, 0, 0)),
    "Tilt Up": ((-1, 0, 0), (0, 0, 0)),
    "Tilt Left": ((0, 1, 0), (0, 0, 0)),
    "Tilt Right": ((0, -1, 0), (0, 0, 0)),
}


def motion_vectors(motion_type: Any, name: str = "motion_type") -> tuple[np.ndarray, np.ndarray]:
    if motion_type not in MOTIONS:
        raise NodeInputError(name, f"unknown motion type {motion_type!r}", "use one of " + ", ".join(MOTIONS))
    rotate, translate = MOTIONS[motion_type]
    return np.array(rotate, dtype=np.float64), np.array(translate, dtype=np.float64)


def rotation(angles: np.ndarray) -> np.ndarray:
    """``Rz · Ry · Rx`` for the angles (radians) about x, y and z."""
    ax, ay, az = (float(a) for a in angles)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ (ry @ rx)


def motion_path(rotate: np.ndarray, translate: np.ndarray, speed: float, frames: int) -> np.ndarray:
    """``[frames, 3, 4]``: ``[R | t]`` of each frame of the motion (see the module docs)."""
    out = []
    for i in range(frames):
        f = i / BASE_FRAMES * float(speed)
        r = rotation(f * BASE_ANGLE * rotate)
        t = (f * BASE_T_NORM * translate).reshape(3, 1)
        out.append(np.concatenate([r, t], axis=1))
    return np.stack(out)


def to_poses(paths: np.ndarray) -> list[list[float]]:
    """Matrices → CAMERACTRL_POSES with CameraCtrl's default intrinsics and pose size."""
    head = [0.0, DEFAULT_FX, DEFAULT_FY, DEFAULT_CX, DEFAULT_CY, DEFAULT_POSE_WIDTH, DEFAULT_POSE_HEIGHT]
    return [list(head) + [float(v) for v in m.reshape(-1)] for m in paths]


def check_poses(poses: Any, name: str) -> list[list[float]]:
    """CAMERACTRL_POSES as lists of 19 floats, or a NodeInputError naming ``name``."""
    if not isinstance(poses, (list, tuple)) or not poses:
        raise NodeInputError(name, f"expected CAMERACTRL_POSES (a list of poses), got {type(poses).__name__}",
                             "connect an ADE camera pose node")
    out = []
    for n, pose in enumerate(poses):
        try:
            values = [float(v) for v in pose]
        except (TypeError, ValueError):
            raise NodeInputError(name, f"pose {n} is not a list of numbers") from None
        if len(values) != POSE_LENGTH or not all(math.isfinite(v) for v in values):
            raise NodeInputError(name, f"pose {n} has {len(values)} numbers (or a non-finite one); a CameraCtrl "
                                 f"pose has {POSE_LENGTH}: frame, fx, fy, cx, cy, width, height and a 3x4 matrix")
        out.append(values)
    return out


def matrices(poses: list[list[float]]) -> np.ndarray:
    return np.array([np.array(p[7:], dtype=np.float64).reshape(3, 4) for p in poses])


def join_paths(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``second`` continued from the last matrix of ``first`` (the pack's ``combine_RTs``)."""
    last = first[-1]
    r_last, t_last = last[:, :3], last[:, 3]
    moved = []
    for m in second:
        r = m[:, :3] @ r_last
        t = m[:, 3] + (r @ r_last.T) @ t_last
        moved.append(np.concatenate([r, t[:, None]], axis=1))
    return np.concatenate([first, np.stack(moved)], axis=0)


def append_poses(first: list[list[float]], second: list[list[float]]) -> list[list[float]]:
    """Both pose lists one after the other, the matrices of the joined path."""
    out = copy.deepcopy(first) + copy.deepcopy(second)
    joined = join_paths(matrices(first), matrices(second))
    for pose, m in zip(out, joined):
        pose[7:] = [float(v) for v in m.reshape(-1)]
    return out


def _frames(frame_length: Any) -> int:
    n = int(frame_length)
    if n < 1:
        raise NodeInputError("frame_length", f"frame_length = {n}: a path needs at least one frame")
    return n


def _new_poses(rotate: np.ndarray, translate: np.ndarray, speed: float, frame_length: Any,
               prev_poses: Any) -> tuple:
    poses = to_poses(motion_path(rotate, translate, float(speed), _frames(frame_length)))
    if prev_poses is not None:
        poses = append_poses(check_poses(prev_poses, "prev_poses"), poses)
    return (poses,)


@executor("ADE_CameraPoseBasic")
def camera_pose_basic(ctx: ExecContext, motion_type: str, speed: float, frame_length: int,
                      prev_poses: Any = None, **_: Any) -> tuple:
    rotate, translate = motion_vectors(motion_type)
    return _new_poses(rotate, translate, speed, frame_length, prev_poses)


def _combined(inputs: dict[str, Any], strengths: bool) -> tuple[np.ndarray, np.ndarray]:
    rotate, translate = np.zeros(3), np.zeros(3)
    for k in range(1, 7):
        r, t = motion_vectors(inputs.get(f"motion_type{k}"), f"motion_type{k}")
        s = float(inputs.get(f"strength{k}", 1.0)) if strengths else 1.0
        if not math.isclose(s, 1.0):
            r, t = r * s, t * s
        rotate, translate = rotate + r, translate + t
    return rotate, translate


@executor("ADE_CameraPoseCombo")
def camera_pose_combo(ctx: ExecContext, speed: float, frame_length: int, prev_poses: Any = None,
                      **inputs: Any) -> tuple:
    rotate, translate = _combined(inputs, strengths=False)
    return _new_poses(rotate, translate, speed, frame_length, prev_poses)


@executor("ADE_CameraPoseAdvanced")
def camera_pose_advanced(ctx: ExecContext, speed: float, frame_length: int, prev_poses: Any = None,
                         **inputs: Any) -> tuple:
    rotate, translate = _combined(inputs, strengths=True)
    return _new_poses(rotate, translate, speed, frame_length, prev_poses)


@executor("ADE_CameraManualPoseAppend")
def camera_manual_pose_append(ctx: ExecContext, poses_first: Any, poses_last: Any, **_: Any) -> tuple:
    return (append_poses(check_poses(poses_first, "poses_first"), check_poses(poses_last, "poses_last")),)


@executor("ADE_ReplaceCameraParameters")
def replace_camera_parameters(ctx: ExecContext, poses: Any, fx: float, fy: float, cx: float, cy: float,
                              **_: Any) -> tuple:
    out = copy.deepcopy(check_poses(poses, "poses"))
    for pose in out:
        pose[1:5] = [float(fx), float(fy), float(cx), float(cy)]
    return (out,)


@executor("ADE_ReplaceOriginalPoseAspectRatio")
def replace_original_pose_aspect_ratio(ctx: ExecContext, poses: Any, orig_pose_width: int, orig_pose_height: int,
                                       **_: Any) -> tuple:
    out = copy.deepcopy(check_poses(poses, "poses"))
    for pose in out:
        pose[5], pose[6] = float(orig_pose_width), float(orig_pose_height)
    return (out,)
