"""``FaceMaskFromPoseKeypoints`` of ComfyUI-WanVideoWrapper (``nodes_utility.py``): a mask of
one person's face per frame from OpenPose JSON keypoints (``POSE_KEYPOINT``, as
comfyui_controlnet_aux's ``DWPreprocessor`` gives them), for Wan 2.2 Animate's face input."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch

from wfrun.models.pose.raster import contour_area, fill_poly
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The jaw line: the first 17 of the 68 face points.
CONTOUR = 17
EDGE_MARGIN = 5
MAX_CANVAS = 8192


def _face_points(person: Any) -> Optional[np.ndarray]:
    """``[n, 2]`` face points of one person, or None when there are none."""
    values = person.get("face_keypoints_2d") if isinstance(person, dict) else None
    if not values:
        return None
    n = len(values) // 3
    if n == 0:
        return None
    return np.asarray(values[:n * 3], np.float64).reshape(n, 3)[:, :2]


def select_person(frame: dict, previous: Any) -> tuple[int, Optional[np.ndarray]]:
    """The index of the person to mask and their face centre. ``previous`` is the index asked
    for on the first frame (counted among people with a usable face, the first of them if out
    of range), else the last frame's centre (the nearest face wins) or None (the first face)."""
    centres, indices = [], []
    for index, person in enumerate(frame.get("people") or []):
        points = _face_points(person)
        if points is None or np.all(points == 0):
            continue
        centre = points.mean(axis=0)
        if not np.all(np.isfinite(centre)):
            continue
        centres.append(centre)
        indices.append(index)
    if not centres:
        return -1, None
    if isinstance(previous, (int, np.integer)):
        pick = previous if 0 <= previous < len(indices) else 0
    elif previous is not None:
        pick = int(np.argmin([np.linalg.norm(c - np.asarray(previous)) for c in centres]))
    else:
        pick = 0
    return indices[pick], centres[pick]


def face_mask(frame: dict, index: int) -> np.ndarray:
    """``[H, W]`` ``uint8`` (0 or 255): the jaw line of person ``index`` filled, when it looks
    like a face (see the executor)."""
    width, height = int(frame["canvas_width"]), int(frame["canvas_height"])
    canvas = np.zeros((height, width), np.uint8)
    people = frame.get("people") or []
    if not 0 <= index < len(people):
        return canvas
    points = _face_points(people[index])
    if points is None or len(points) < CONTOUR or np.all(points == 0):
        return canvas
    if not np.all(np.isfinite(points)) or np.any(points < 0):
        return canvas
    near = ((points[:, 0] < EDGE_MARGIN) | (points[:, 1] < EDGE_MARGIN) | (points[:, 0] > width - EDGE_MARGIN)
            | (points[:, 1] > height - EDGE_MARGIN))
    if near.any() and np.sum((points[:, 0] < EDGE_MARGIN) & (points[:, 1] < EDGE_MARGIN)) > 3:
        return canvas
    pixels = points.astype(np.int32)
    pixels[:, 0] = np.clip(pixels[:, 0], 0, width - 1)
    pixels[:, 1] = np.clip(pixels[:, 1], 0, height - 1)
    contour = pixels[:CONTOUR]
    span = contour.max(axis=0) - contour.min(axis=0)
    if span[0] > 0.8 * width or span[1] > 0.8 * height:
        return canvas
    if len(np.unique(contour, axis=0)) < 3:
        return canvas
    area = contour_area(contour)
    if 0.001 * width * height <= area <= 0.5 * width * height:
        fill_poly(canvas[..., None], [tuple(p) for p in contour.tolist()], (255,))
    return canvas


@executor("FaceMaskFromPoseKeypoints")
def face_mask_from_pose_keypoints(ctx: ExecContext, pose_kps: Any, person_index: int, **unused: Any) -> tuple:
    """Per frame, the face of one person filled white inside their jaw line (face points 1-17,
    truncated to pixels and clipped to the canvas, the polygon closed straight across the
    forehead) on a black canvas of the frame's size; ``MASK`` in 0/1.

    The person: on the first frame the ``person_index``-th of those with a usable face (the first
    if there are fewer), then on each frame the face nearest the last one's centre. The mask is
    left empty (as in the pack since its second version of 2025-09-19) when the face has under
    17 points, any point negative or not finite, more than three points within 5 pixels of the
    top-left corner, a jaw line spanning over 80% of the canvas either way, fewer than three
    distinct points, or an area outside 0.1%-50% of the canvas. No frames: one empty 64x64 mask."""
    frames = pose_kps if isinstance(pose_kps, (list, tuple)) else [pose_kps]
    masks = []
    previous: Any = int(person_index)
    for i, frame in enumerate(frames):
        ctx.check_interrupt()
        if not isinstance(frame, dict) or "canvas_width" not in frame or "canvas_height" not in frame:
            raise NodeInputError("pose_kps", f"frame {i}: expected OpenPose JSON with people and canvas size, "
                                 f"got {type(frame).__name__}", "connect the POSE_KEYPOINT output of DWPreprocessor")
        width, height = frame["canvas_width"], frame["canvas_height"]
        if not all(isinstance(v, (int, float)) and 0 < v <= MAX_CANVAS and math.isfinite(v) for v in (width, height)):
            raise NodeInputError("pose_kps", f"frame {i}: canvas {width}x{height}; expected 1..{MAX_CANVAS} pixels")
        index, previous = select_person(frame, previous)  # an index on the first frame, then a centre
        masks.append(face_mask(frame, index))
    if not masks:
        return (torch.zeros((1, 64, 64), dtype=torch.float32),)
    if len({m.shape for m in masks}) > 1:
        raise NodeInputError("pose_kps", f"frames of different canvas sizes: {sorted({m.shape for m in masks})}")
    return (torch.from_numpy(np.stack(masks)).float() / 255.0,)
