"""COCO-WholeBody's 133 keypoints in the parts Wan 2.2 Animate's preprocessing keeps (the
Wan team's ``pose2d_utils.py`` and ``utils.py`` as ComfyUI-WanAnimatePreprocess ships them):

- body: 20 points, OpenPose's 18 (the neck the mean of the shoulders, every other point the mean
  of a point with itself) then the two big toes averaged with the small toes, scores averaged
  the same way;
- hands: points 92-112 (left) and 113-133 (right); face: point 23 (a foot point, as the pack
  slices it) then the 68 face points;
- per frame, ``x`` divided by the frame width and ``y`` by its height (scores untouched); a
  frame whose every body point has a coordinate below 0 takes the previous frame's body.

Arrays are float32, as the decoded keypoints are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BODY_A = (0, 6, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3, 17, 20)
BODY_B = (0, 5, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3, 18, 21)
LEFT_HAND, RIGHT_HAND, FACE = slice(91, 112), slice(112, 133), slice(22, 91)
#: Body points whose positions the node reports for the key frames (nose, neck, shoulders, hips, knees).
KEY_POINTS = (0, 1, 2, 5, 8, 11, 10, 13)
FACE_SCALE = 1.3


@dataclass(frozen=True)
class FramePose:
    """One frame's parts, ``x, y`` normalised by ``width`` and ``height``, then the score."""

    width: int
    height: int
    body: np.ndarray        # [20, 3]
    left_hand: np.ndarray   # [21, 3]
    right_hand: np.ndarray  # [21, 3]
    face: np.ndarray        # [69, 3]

    def pixels(self, part: np.ndarray) -> np.ndarray:
        """``[n, 3]`` float64 with ``x, y`` back in frame pixels (as the pack's ``AAPoseMeta``,
        whose multiplication by the size tuple promotes to float64)."""
        out = part.astype(np.float64)
        out[:, :2] = part[:, :2] * np.array((self.width, self.height))
        return out


def split(keypoints: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    """Body, left hand, right hand and face of one ``[133, 3]`` frame, normalised."""
    kps = np.array(keypoints, np.float32)
    kps[:, 0] /= width
    kps[:, 1] /= height
    body = (kps[list(BODY_A)] + kps[list(BODY_B)]) / 2
    return body, kps[LEFT_HAND].copy(), kps[RIGHT_HAND].copy(), kps[FACE].copy()


def frame_poses(keypoints: np.ndarray, width: int, height: int) -> list[FramePose]:
    """Each ``[133, 3]`` frame of ``[F, 133, 3]`` (frame pixels) as a ``FramePose``."""
    out: list[FramePose] = []
    last_body = None
    for frame in keypoints:
        body, left, right, face = split(frame, width, height)
        if last_body is not None and body[:, :2].min(axis=1).max() < 0:
            body = last_body
        last_body = body
        out.append(FramePose(int(width), int(height), body, left, right, face))
    return out


def face_box(pose: FramePose, height: int, width: int) -> tuple[int, int, int, int]:
    """The face crop ``x1, x2, y1, y2`` (the pack's order): the 68 face points' box, its area grown
    1.3 times keeping its aspect, widened evenly, heightened three parts up to one down,
    clipped to the frame and truncated.

    Where the points' box has no width or height (the pack divides by it and fails), the box is
    not grown."""
    points = pose.face[1:, :2] * np.array((width, height))  # float64, as in the pack
    min_x, min_y = np.min(points, axis=0)
    max_x, max_y = np.max(points, axis=0)
    w, h = max_x - min_x, max_y - min_y
    delta_w = delta_h = 0.0
    if w > 0 and h > 0:
        area = w * h * FACE_SCALE
        delta_w = (np.sqrt(area * (w / h)) - w) / 2
        delta_h = (np.sqrt(area * (h / w)) - h) / 4
    x1 = max(min_x - delta_w, 0)
    x2 = min(max_x + delta_w, width)
    y1 = max(min_y - 3 * delta_h, 0)
    y2 = min(max_y + delta_h, height)
    return int(x1), int(x2), int(y1), int(y2)


def key_frame_points(poses: list[FramePose]) -> list[dict]:
    """The key points of the last key frame (the pack loops over up to four key frames and keeps
    the last one's list), as ``{"x", "y"}`` integer pixels of the first frame's size."""
    count = 4 if len(poses) >= 4 else 1
    step = len(poses) // count
    last = list(range(0, len(poses), step))[-1]
    body = poses[last].body[list(KEY_POINTS)][:, :2]
    size = np.array([[poses[0].width, poses[0].height]])
    points = (body * size).astype(np.int32)
    return [{"x": int(x), "y": int(y)} for x, y in points]
