"""``DWPreprocessor`` of comfyui_controlnet_aux: whole-body pose (body, hands, face) of each
frame drawn OpenPose-style, and the keypoints as OpenPose JSON (``node_wrappers/dwpose.py``,
``src/custom_controlnet_aux/dwpose``), on ``models.pose``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wfrun.models.pose.draw import draw_people
from wfrun.models.pose.onnx_runtime import OnnxModel, OnnxModelError, load_onnx
from wfrun.models.pose.pipeline import detect_frame
from wfrun.models.pose.wholebody import openpose_dict
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.controlnet_aux.files import SOURCES, find_file
from wfrun.packs.controlnet_aux.image import detect_resolution, hwc3, resize_levels, to_uint8_levels
from wfrun.packs.controlnet_aux.nodes import _image

TORCHSCRIPT_SUFFIX = ".torchscript.pt"


def onnx_twin(name: str) -> str:
    """The ONNX release of a TorchScript export: ``dw-ll_ucoco_384_bs5.torchscript.pt`` →
    ``dw-ll_ucoco_384.onnx``, ``yolox_l.torchscript.pt`` → ``yolox_l.onnx`` (the batch-size
    tag of the export dropped)."""
    stem = name[: -len(TORCHSCRIPT_SUFFIX)]
    return re.sub(r"_bs\d+$", "", stem) + ".onnx"


def _model_file(ctx: ExecContext, name: Any, input_name: str) -> Path:
    """The ONNX file to run for a model choice (the twin of a TorchScript choice)."""
    if not isinstance(name, str) or not name:
        raise NodeInputError(input_name, f"expected a model file name, got {name!r}")
    if "yolo_nas" in name:
        raise NodeInputError(input_name, f"{name}: YOLO-NAS detectors are not supported by wfrun",
                             "pick yolox_l.onnx (the node's default detector)")
    if name.endswith(TORCHSCRIPT_SUFFIX):
        twin = onnx_twin(name)
        try:
            return find_file(ctx, twin, input_name)
        except NodeInputError as err:
            repo = SOURCES.get(twin, "yzd-v/DWPose")
            raise NodeInputError(
                input_name, f"{name} is a TorchScript model, which wfrun does not run (loading it compiles and runs "
                f"code from the file); it runs the same network from its ONNX release {twin}, which was not found: "
                f"{err}", f"get {twin} from https://huggingface.co/{repo} and put it in <models>/controlnet_aux/, or "
                f"pick {twin} in the node") from None
    if not name.endswith(".onnx"):
        raise NodeInputError(input_name, f"{name}: not an ONNX model", "pick one of the node's .onnx models")
    return find_file(ctx, name, input_name)


def _load(ctx: ExecContext, name: Any, input_name: str) -> OnnxModel:
    path = _model_file(ctx, name, input_name)
    try:
        return load_onnx(path, ctx.device)
    except OnnxModelError as err:
        raise NodeInputError(input_name, str(err), f"get {path.name} again from "
                             f"https://huggingface.co/{SOURCES.get(path.name, 'yzd-v/DWPose')}") from None


@executor("DWPreprocessor", oom_hint="lower the resolution, or estimate fewer frames at once")
def dw_preprocessor(ctx: ExecContext, image: Any, detect_hand: str, detect_body: str, detect_face: str,
                    resolution: int, bbox_detector: str, pose_estimator: str, scale_stick_for_xinsr_cn: str,
                    **unused: Any) -> tuple:
    """Each frame's people found by the YOLOX detector, their 133 whole-body keypoints by the
    DWPose network, drawn OpenPose-style (``models.pose.draw``) on black at the frame's own
    size, then resized so the short side is ``resolution`` (bicubic up, area down, as the pack's
    other preprocessors); and per frame the OpenPose JSON dict (``POSE_KEYPOINT``, a list).

    As in the pack: frames are taken as 8-bit levels (``x * 255`` truncated); detection and
    pose run at the frame's size; a frame without people gives a black image and no people;
    ``detect_*`` choose what is drawn; xinsir's stick scale thickens limbs on large frames.
    The JSON holds every part whatever ``detect_*`` say (the pack until 2026-01; later
    versions leave disabled parts out).

    Differences: models are read from ``<models>/controlnet_aux/`` and run by onnxruntime
    (the pack uses OpenCV's DNN module when onnxruntime has no GPU provider; the numbers agree
    to float rounding). A TorchScript choice (``dw-ll_ucoco_384_bs5.torchscript.pt``,
    ``yolox_l.torchscript.pt``) runs its ONNX release of the same network
    (``dw-ll_ucoco_384.onnx``, ``yolox_l.onnx``), because loading TorchScript runs code from
    the file; without that file it is a NodeInputError naming it. YOLO-NAS detectors are
    refused. OpenCV's resize, warp and drawing are rewritten on numpy (``models.pose``), the
    bilinear letterbox one level off on about one pixel in a thousand.
    """
    frames = _image(image)
    detector = _load(ctx, bbox_detector, "bbox_detector")
    estimator = _load(ctx, pose_estimator, "pose_estimator")
    res = detect_resolution(resolution)
    xinsr = scale_stick_for_xinsr_cn == "enable"
    drawn, dicts = [], []
    for frame in frames:
        ctx.check_interrupt()
        levels = hwc3(to_uint8_levels(frame.cpu()))
        pixels = levels.numpy().astype(np.uint8)
        height, width = pixels.shape[:2]
        try:
            persons = detect_frame(detector, estimator, pixels)
        except ValueError as err:
            raise NodeInputError("pose_estimator", str(err), "pick the models the node lists") from None
        canvas = draw_people(persons, height, width, body=detect_body == "enable", hands=detect_hand == "enable",
                             face=detect_face == "enable", xinsr=xinsr)
        drawn.append(resize_levels(torch.from_numpy(canvas).float(), res) / 255.0)
        dicts.append(openpose_dict(persons, height, width))
    return torch.stack(drawn).contiguous(), dicts
