"""AnimateDiff-Evolved's CameraCtrl pose nodes (packs/animatediff_evolved): each path worked
out by hand from the pack's definitions (a motion per 16 frames: 60° of rotation, 1.5 of
translation; R = Rz·Ry·Rx; joined paths continue from the last pose)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
FX, FY = 0.474812461, 0.844111024


def matrix(pose):
    return np.array(pose[7:]).reshape(3, 4)


def test_zoom_out_moves_back_along_z_by_the_frames_sixteenth():
    (poses,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Zoom Out", speed=0.5, frame_length=3)
    assert len(poses) == 3
    for i, pose in enumerate(poses):
        assert len(pose) == 19
        assert pose[:7] == [0, FX, FY, 0.5, 0.5, 1280, 720]
        # t_z = i/16 * speed * 1.5 * 2
        np.testing.assert_allclose(matrix(pose), np.hstack([np.eye(3), [[0], [0], [i / 16 * 0.5 * 3.0]]]))


def test_a_longer_path_is_longer_not_slower():
    (short,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Pan Left", speed=1.0, frame_length=2)
    (long,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Pan Left", speed=1.0, frame_length=40)
    np.testing.assert_allclose(matrix(short[1]), matrix(long[1]))
    np.testing.assert_allclose(matrix(long[32])[:, 3], [2 * 1.5, 0, 0])  # two units of 16 frames: x = 3


def test_tilt_down_turns_about_x_by_sixty_degrees_per_sixteen_frames():
    (poses,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Tilt Down", speed=2.0, frame_length=2)
    a = 1 / 16 * 2.0 * math.pi / 3
    c, s = math.cos(a), math.sin(a)
    np.testing.assert_allclose(matrix(poses[1]), [[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0]], atol=1e-12)


def test_combo_sums_the_motions_and_rotates_x_first():
    """Tilt Down (x) + Tilt Left (y): R = Ry(a) · Rx(a)."""
    (poses,) = node("ADE_CameraPoseCombo")(CTX, motion_type1="Tilt Down", motion_type2="Tilt Left",
                                           motion_type3="Static", motion_type4="Static", motion_type5="Static",
                                           motion_type6="Zoom In", speed=1.0, frame_length=2)
    a = 1 / 16 * math.pi / 3
    c, s = math.cos(a), math.sin(a)
    rx = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    want = np.hstack([ry @ rx, [[0], [0], [1 / 16 * 1.5 * -2]]])
    np.testing.assert_allclose(matrix(poses[1]), want, atol=1e-12)


def test_advanced_weights_each_motion():
    (poses,) = node("ADE_CameraPoseAdvanced")(CTX, motion_type1="Pan Up", strength1=0.5, motion_type2="Pan Up",
                                              strength2=2.0, motion_type3="Static", motion_type4="Static",
                                              motion_type5="Static", motion_type6="Static", speed=1.0,
                                              frame_length=17)
    np.testing.assert_allclose(matrix(poses[16])[:, 3], [0, 2.5 * 1.5, 0])  # (0.5 + 2) units up after 16 frames


def test_prev_poses_continue_from_the_last_pose():
    """Zoom Out to t = (0, 0, T), then Tilt Down: R' = Rx(a)·I, t' = 0 + R'·Iᵀ·(0, 0, T)."""
    (first,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Zoom Out", speed=1.0, frame_length=2)
    (first,) = node("ADE_ReplaceCameraParameters")(CTX, poses=first, fx=0.3, fy=0.4, cx=0.45, cy=0.55)
    (poses,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Tilt Down", speed=1.0, frame_length=2, prev_poses=first)
    assert len(poses) == 4
    big_t = 1 / 16 * 1.5 * 2
    a = 1 / 16 * math.pi / 3
    c, s = math.cos(a), math.sin(a)
    np.testing.assert_allclose(matrix(poses[1]), matrix(first[1]))
    np.testing.assert_allclose(matrix(poses[2]), np.hstack([np.eye(3), [[0], [0], [big_t]]]), atol=1e-12)
    np.testing.assert_allclose(matrix(poses[3]), [[1, 0, 0, 0], [0, c, -s, -s * big_t], [0, s, c, c * big_t]],
                               atol=1e-12)
    assert poses[0][1:5] == [0.3, 0.4, 0.45, 0.55]  # each pose keeps its own intrinsics
    assert poses[3][1:5] == [FX, FY, 0.5, 0.5]
    (tilt,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Tilt Down", speed=1.0, frame_length=2)
    (again,) = node("ADE_CameraManualPoseAppend")(CTX, poses_first=first, poses_last=tilt)
    np.testing.assert_allclose([matrix(p) for p in again[2:]], [matrix(p) for p in poses[2:]], atol=1e-12)
    assert first[1][7:] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, big_t]  # inputs are not changed


def test_aspect_ratio_and_errors():
    (poses,) = node("ADE_CameraPoseBasic")(CTX, motion_type="Static", speed=1.0, frame_length=1)
    (wide,) = node("ADE_ReplaceOriginalPoseAspectRatio")(CTX, poses=poses, orig_pose_width=1920, orig_pose_height=800)
    assert wide[0][5:7] == [1920, 800] and poses[0][5:7] == [1280, 720]
    with pytest.raises(NodeInputError, match="frame_length"):
        node("ADE_CameraPoseBasic")(CTX, motion_type="Static", speed=1.0, frame_length=0)
    with pytest.raises(NodeInputError, match="unknown motion type"):
        node("ADE_CameraPoseBasic")(CTX, motion_type="Barrel Roll", speed=1.0, frame_length=2)
    with pytest.raises(NodeInputError, match="19"):
        node("ADE_CameraManualPoseAppend")(CTX, poses_first=[[1.0, 2.0]], poses_last=poses)
