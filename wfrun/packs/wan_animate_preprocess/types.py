"""Values ComfyUI-WanAnimatePreprocess passes between its nodes."""

from __future__ import annotations

from dataclasses import dataclass

from wfrun.models.pose.animate_meta import FramePose
from wfrun.models.pose.onnx_runtime import OnnxModel


@dataclass(frozen=True, eq=False)
class PoseModel:
    """``POSEMODEL``: the pack's ``{"vitpose", "yolo"}`` dict of ONNX sessions."""

    vitpose: OnnxModel
    yolo: OnnxModel


@dataclass(frozen=True, eq=False)
class PoseData:
    """``POSEDATA``: the pack's ``{"pose_metas", "pose_metas_original", "retarget_image",
    "refer_pose_meta"}`` dict. Without retargeting (the only way wfrun runs the node) the poses
    to draw are the detected ones, so one list serves both."""

    poses: tuple[FramePose, ...]
