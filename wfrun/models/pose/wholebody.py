"""COCO-WholeBody's 133 keypoints as OpenPose's parts, and the OpenPose JSON the packs output.

As the DWPose code of comfyui_controlnet_aux does (``wholebody.py``, ``__init__.py``):

- a neck is added after the 17 body points: the mean of the shoulders, its score 1 when both
  shoulders score above 0.3, else 0; body points are then reordered from MMPose's order to
  OpenPose's 18 (nose, neck, right arm, left arm, right leg, left leg, eyes, ears);
- a point is kept when its score is at least 0.3; a part with no kept point is absent (the body
  then has 18 empty points); the face is points 24-91 (68) plus the two eyes of the body, the
  left hand 92-112 and the right hand 113-133;
- the JSON per frame: ``{"people": [{"pose_keypoints_2d", "face_keypoints_2d",
  "hand_left_keypoints_2d", "hand_right_keypoints_2d"}], "canvas_height", "canvas_width"}``,
  each part a flat ``[x, y, 1.0]`` list in frame pixels (``[0, 0, 0]`` for a missing point),
  ``None`` for an absent part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

SCORE_MIN = 0.3
MMPOSE_ORDER = (17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3)
OPENPOSE_ORDER = (1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17)
BODY, FACE, LEFT_HAND, RIGHT_HAND = slice(0, 18), slice(24, 92), slice(92, 113), slice(113, 134)


class Keypoint(NamedTuple):
    x: float
    y: float
    score: float = 1.0
    id: int = -1


Part = Optional[list]  # a list of Keypoint or None per point, or None for an absent part


@dataclass(frozen=True)
class Person:
    body: list
    left_hand: Part
    right_hand: Part
    face: Part


def to_openpose(points: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``[n, 134, 3]`` (x, y, score) in OpenPose's body order from ``[n, 133, 2]`` and ``[n, 133]``."""
    info = np.concatenate((points, scores[..., None]), axis=-1)
    neck = np.mean(info[:, [5, 6]], axis=1)
    neck[:, 2] = np.logical_and(info[:, 5, 2] > SCORE_MIN, info[:, 6, 2] > SCORE_MIN).astype(int)
    info = np.insert(info, 17, neck, axis=1)
    info[:, list(OPENPOSE_ORDER)] = info[:, list(MMPOSE_ORDER)]
    return info


def _part(rows: np.ndarray) -> Part:
    points = [Keypoint(x, y, score, i) if score >= SCORE_MIN else None for i, (x, y, score) in enumerate(rows)]
    return None if all(p is None for p in points) else points


def people(info: np.ndarray) -> list[Person]:
    """Each row of ``to_openpose`` as a person's parts."""
    out = []
    for row in info:
        body = _part(row[BODY]) or [None] * 18
        face = _part(row[FACE])
        if face is not None:
            face = face + [body[14], body[15]]
        out.append(Person(body, _part(row[LEFT_HAND]), _part(row[RIGHT_HAND]), face))
    return out


def _flat(part: Part) -> Optional[list[float]]:
    if not part:
        return None
    return [v for p in part for v in ([float(p.x), float(p.y), 1.0] if p is not None else [0.0, 0.0, 0.0])]


def openpose_dict(persons: list[Person], height: int, width: int) -> dict:
    """One frame's OpenPose JSON (a plain dict)."""
    return {
        "people": [{"pose_keypoints_2d": _flat(p.body), "face_keypoints_2d": _flat(p.face),
                    "hand_left_keypoints_2d": _flat(p.left_hand), "hand_right_keypoints_2d": _flat(p.right_hand)}
                   for p in persons],
        "canvas_height": int(height),
        "canvas_width": int(width),
    }
