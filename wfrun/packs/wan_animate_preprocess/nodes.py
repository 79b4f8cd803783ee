"""``OnnxDetectionModelLoader``, ``PoseAndFaceDetection`` and ``DrawViTPose`` of
ComfyUI-WanAnimatePreprocess (``nodes.py``), on ``models.pose``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wfrun.models.pose import animate_meta, vitpose, yolo
from wfrun.models.pose.animate_draw import draw_pose
from wfrun.models.pose.onnx_runtime import OnnxModel, OnnxModelError, load_onnx
from wfrun.models.pose.resample import resize_linear_float
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve
from wfrun.packs.wan_animate_preprocess.types import PoseData, PoseModel

#: The models sub-folder the pack registers and reads its ONNX files from.
FOLDER = "detection"
SOURCE = "https://huggingface.co/Kijai/vitpose_comfy (ViTPose) and https://huggingface.co/onnx-community/yolov10m"
FACE_SIZE = 512


def _model_file(ctx: ExecContext, name: Any, input_name: str) -> Path:
    if not isinstance(name, str) or not name:
        raise NodeInputError(input_name, f"expected an ONNX model file name, got {name!r}")
    if not name.lower().endswith(".onnx"):
        raise NodeInputError(input_name, f"{name}: not an ONNX model", "pick an .onnx file of the detection folder")
    return resolve(ctx, FOLDER, name, input_name, source=SOURCE)


def _load(ctx: ExecContext, name: Any, input_name: str, device: str) -> OnnxModel:
    path = _model_file(ctx, name, input_name)
    try:
        return load_onnx(path, device)
    except OnnxModelError as err:
        raise NodeInputError(input_name, str(err), f"get {path.name} again ({SOURCE})") from None


@executor("OnnxDetectionModelLoader", background=True)
def onnx_detection_model_loader(ctx: ExecContext, vitpose_model: str, yolo_model: str, onnx_device: str,
                                **unused: Any) -> tuple:
    """The ViTPose and YOLO ONNX files of ``<models>/detection/`` in onnxruntime sessions.

    ``onnx_device`` as in the pack: the CUDA provider (when wfrun runs on a CUDA device and
    onnxruntime has it, else the CPU) or the CPU provider."""
    device = "cpu" if onnx_device == "CPUExecutionProvider" else ctx.device
    return (PoseModel(vitpose=_load(ctx, vitpose_model, "vitpose_model", device),
                      yolo=_load(ctx, yolo_model, "yolo_model", device)),)


def _frames(images: Any) -> np.ndarray:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] < 3 or images.shape[0] == 0:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError("images", f"expected an IMAGE batch [frames, height, width, 3], got {shape}")
    return images[..., :3].detach().to("cpu", torch.float32).numpy()


def _face_image(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The face crop resized to 512x512; an empty crop falls back, as in the pack, to a square of
    0.3 of the short side centred across and starting a tenth down (black if that is empty too)."""
    x1, y1, x2, y2 = box
    face = frame[y1:y2, x1:x2]
    if face.size == 0:
        height, width = frame.shape[:2]
        side = int(min(height, width) * 0.3)
        fx, fy = (width - side) // 2, int(height * 0.1)
        face = frame[fy:fy + side, fx:fx + side]
        if face.size == 0:
            return np.zeros((FACE_SIZE, FACE_SIZE, frame.shape[2]), np.float32)
    return resize_linear_float(face, (FACE_SIZE, FACE_SIZE))


@executor("PoseAndFaceDetection", oom_hint="detect fewer frames at once")
def pose_and_face_detection(ctx: ExecContext, model: Any, images: Any, width: int, height: int,
                            face_padding: int, retarget_image: Any = None, **unused: Any) -> tuple:
    """Per frame, the person the YOLO detector finds (the largest, whole frame if none), their
    133 whole-body keypoints by ViTPose (``models.pose.vitpose``), the Animate body, hands and
    face (``models.pose.animate_meta``), and the face crop resized to 512x512.

    Outputs as the pack's: ``pose_data`` (the poses for ``DrawViTPose``), the face images,
    ``key_frame_body_points`` (JSON ``[{"x", "y"}]`` of eight body points of the last key frame,
    in pixels), ``bboxes`` (the first frame's person box, ``[(x1, y1, x2, y2)]``, the whole frame
    when nobody was found) and ``face_bboxes`` (per frame ``(x1, y1, x2, y2)``, grown by
    ``face_padding`` and clipped to the frame). ``width`` and ``height`` only matter to
    retargeting.

    Differences: retargeting onto ``retarget_image`` (the pack's ``retarget_pose.py``) is not
    done by wfrun: with that input connected the node is a NodeInputError. Signatures from
    before 2025-09-23, which drew the poses in this node, are refused the same way."""
    if "padding" in unused or "retarget_padding" in unused or "reference_image" in unused:
        raise NodeInputError("images", "this workflow was saved with PoseAndFaceDetection from before 2025-09-23, "
                             "which drew the poses itself; wfrun runs the later node with DrawViTPose",
                             "update ComfyUI-WanAnimatePreprocess, re-create the node and draw with DrawViTPose")
    if retarget_image is not None:
        raise NodeInputError("retarget_image", "pose retargeting onto a reference image is not supported by wfrun",
                             "disconnect retarget_image to use the detected poses as they are")
    if not isinstance(model, PoseModel):
        raise NodeInputError("model", f"expected a POSEMODEL from OnnxDetectionModelLoader, got {type(model).__name__}")
    frames = _frames(images)
    count, frame_h, frame_w = frames.shape[:3]
    boxes, keypoints = [], []
    try:
        for frame in frames:
            ctx.check_interrupt()
            box = yolo.detect_person(model.yolo, frame)
            boxes.append(box)
            keypoints.append(vitpose.estimate(model.vitpose, frame, vitpose.usable_box(box, frame_h, frame_w)))
    except ValueError as err:
        raise NodeInputError("model", str(err), "load the pack's ViTPose and YOLOv10 ONNX models") from None
    if keypoints[0].shape[0] != 133:
        raise NodeInputError("model", f"the pose model gives {keypoints[0].shape[0]} keypoints; the pack needs a "
                             "whole-body ViTPose (133)", "load a vitpose_*_wholebody model")
    poses = animate_meta.frame_poses(np.stack(keypoints), frame_w, frame_h)
    pad = int(face_padding or 0)
    faces, face_boxes = [], []
    for frame, pose in zip(frames, poses):
        x1, x2, y1, y2 = animate_meta.face_box(pose, frame_h, frame_w)
        if pad > 0:
            x1, y1, x2, y2 = max(0, x1 - pad), max(0, y1 - pad), min(frame_w, x2 + pad), min(frame_h, y2 + pad)
        face_boxes.append((x1, y1, x2, y2))
        faces.append(_face_image(frame, (x1, y1, x2, y2)))
    first = np.asarray(boxes[0]).flatten()
    bbox = tuple(int(v) for v in first[:4]) if first.shape[0] >= 4 else (0, 0, 0, 0)
    points = json.dumps(animate_meta.key_frame_points(poses))
    face_images = torch.from_numpy(np.stack(faces)).contiguous()
    return PoseData(tuple(poses)), face_images, points, [bbox], face_boxes


@executor("DrawViTPose")
def draw_vit_pose(ctx: ExecContext, pose_data: Any, width: int, height: int, retarget_padding: int,
                  body_stick_width: int, hand_stick_width: int, draw_head: Any, **unused: Any) -> tuple:
    """Each frame's pose drawn on a black ``height`` x ``width`` canvas
    (``models.pose.animate_draw``): body limbs and points, and the hands unless
    ``hand_stick_width`` is 0; without ``draw_head`` the nose, eyes and ears are left out.

    As in the pack, points keep their pixel positions in the detected frames (a canvas of
    another size is not rescaled), ``body_stick_width`` 0 still draws one-pixel limbs, and
    ``draw_head`` is read by truth value as ComfyUI does (the node's default is the string ``"True"``).
    ``retarget_padding`` only applies to retargeted poses, which wfrun does not make."""
    if not isinstance(pose_data, PoseData):
        raise NodeInputError("pose_data", f"expected POSEDATA from PoseAndFaceDetection, got {type(pose_data).__name__}")
    head = bool(draw_head)  # ComfyUI turns a BOOLEAN value into bool() before the node sees it
    drawn = []
    for pose in pose_data.poses:
        ctx.check_interrupt()
        canvas = draw_pose(int(height), int(width), pose.pixels(pose.body), pose.pixels(pose.left_hand),
                           pose.pixels(pose.right_hand), int(body_stick_width), int(hand_stick_width), head)
        drawn.append(torch.from_numpy(canvas))
    return (torch.stack(drawn).float() / 255.0,)
