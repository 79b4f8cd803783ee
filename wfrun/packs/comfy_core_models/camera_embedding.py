"""ComfyUI's ``WanCameraEmbedding`` (``comfy_extras/nodes_camera_trajectory.py``): a preset
camera motion turned into the per-pixel Plücker rays that the Wan Fun camera models
(2.1 Fun Camera v1.1, 2.2 Fun Camera) read through their control adapter.

What the node makes, step by step (the functions below, each usable without an executor):

1. :func:`camera_poses` — one camera-to-world matrix per output frame. Frame ``i`` of
   ``length`` has moved the fraction ``i / length`` (never quite all of it: the last frame
   stops one step short, as in ComfyUI) of the preset's full motion times ``speed``: a
   translation of 1.5 units along the preset's direction, and rotation angles of
   ``pi/3`` radians times the preset's axis weights, composed as ``Rz @ Ry @ Rx``. The
   camera axes are OpenCV's: x right, y *down*, z forward, so "Pan Up" moves along -y and
   "Zoom In" along +z. :func:`relative_to_first` then expresses every pose in the first
   frame's camera (the first is the identity; for these presets it already is).
2. :func:`intrinsics` — pixel focal lengths and principal point from the normalised
   ``fx, fy, cx, cy``. The presets were made for 1280x720 video, so one of the two focal
   lengths is measured against a 16:9 frame covering the output (the side the crop cuts):
   narrower than 16:9 → ``fx * height * 16/9`` and ``fy * height``; otherwise
   ``fx * width`` and ``fy * width * 9/16``. At 512x512 the pixels are thus not square
   (fx ≈ 455, fy = 256 by default): that is ComfyUI's arithmetic, kept.
3. :func:`plucker_embedding` (:func:`pixel_rays`, :func:`plucker_matrices`) — for each
   pixel centre ``(u + 0.5, v + 0.5)`` the ray ``d = R · normalise(((u - cx) / fx,
   (v - cy) / fy, 1))`` from the camera centre ``o`` (the pose's translation), as the 6
   numbers ``(o × d, d)``, in world coordinates.
4. :func:`latent_groups`, :func:`stack_group` — the Wan VAE makes one latent frame of
   the first frame and one of each following 4, so the frames are grouped the same way:
   the first frame repeated 4 times makes group 0, frames ``4g-3 .. 4g`` make group
   ``g``, and each group's 4 frames are stacked into the channels.

The value handed on (``WAN_CAMERA_EMBEDDING``, stored by WanCameraImageToVideo as the
conditioning's ``camera_conditions``) is, as in ComfyUI:

- a plain ``torch.Tensor``, ``float32``, on the CPU; like ComfyUI's, a transposed view
  whose memory is ordered ``[1, T', 24, H, W]`` (not ``is_contiguous()``);
- shape ``[1, 24, T', height, width]`` at *pixel* resolution, where
  ``T' = (length - 1) // 4 + 1`` is exactly the number of latent frames of a latent made
  for the same ``length`` (``EmptyHunyuanLatentVideo``, ``WanCameraImageToVideo``);
- channel ``4 * c + k`` holds Plücker component ``c`` (0-2: ``o × d`` x, y, z; 3-5:
  ``d`` x, y, z) of the ``k``-th frame (0..3) of latent frame ``t``'s group: for ``t = 0``
  all four are frame 0, for ``t >= 1`` they are frames ``4t - 3 + k``.

In ComfyUI the sampler repeats it to the batch (``CONDRegular``), casts it to the model's
dtype, and ``WanCamAdapter`` folds ``[B, 24, T', H, W]`` into ``B*T'`` images, applies
PixelUnshuffle(8) (``24 * 64`` channels at H/8, W/8), a 2x2 stride-2 convolution to the
model width (H/16, W/16: one value per token) and one residual block, and adds the result
to the patch embedding of the latent, frame for frame.

Nothing checks that the embedding's ``T'``, height and width match the latent it meets:
in the templates one node's ``width``/``height``/``length`` outputs feed the other's, but a
workflow may set them apart, and the consumer should say so rather than broadcast.

Where wfrun differs: ComfyUI's node fails with a bare reshape error on a length that is
not 4n+1, computes for any size (an embedding whose size is not a multiple of 16 cannot
match the model's tokens, so sampling fails later) and divides by zero into NaN rays for
``fx`` or ``fy`` of 0. wfrun refuses those inputs here, naming the input.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: Translation of a full motion (speed 1, last frame extrapolated to ``i == length``).
TRANSLATION_UNIT = 1.5
#: Rotation of a full motion, in radians.
ANGLE_UNIT = math.pi / 3
#: The presets: (rotation weights about x, y, z; translation direction x, y, z), in the
#: camera axes (x right, y down, z forward).
POSES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "Static": ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "Pan Up": ((0.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "Pan Down": ((0.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "Pan Left": ((0.0, 0.0, 0.0), (-1.0, 0.0, 0.0)),
    "Pan Right": ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    "Zoom In": ((0.0, 0.0, 0.0), (0.0, 0.0, 2.0)),
    "Zoom Out": ((0.0, 0.0, 0.0), (0.0, 0.0, -2.0)),
    "Anti Clockwise (ACW)": ((0.0, 0.0, -1.0), (0.0, 0.0, 0.0)),
    "ClockWise (CW)": ((0.0, 0.0, 1.0), (0.0, 0.0, 0.0)),
}
#: The aspect of the video the presets' intrinsics were made for (1280x720).
POSE_ASPECT = 1280 / 720
#: Plücker components per frame, and frames per latent frame.
PLUCKER_CHANNELS = 6
FRAMES_PER_LATENT = 4


def rotation_xyz(angles: torch.Tensor) -> torch.Tensor:
    """``Rz @ Ry @ Rx`` for angles ``(x, y, z)`` in radians: the order the presets were
    authored in (only one axis is ever non-zero in them, but a custom angle set composes
    the same way)."""
    ax, ay, az = (float(a) for a in angles)
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = torch.tensor([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]], dtype=torch.float64)
    ry = torch.tensor([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]], dtype=torch.float64)
    rz = torch.tensor([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return rz @ ry @ rx


def camera_poses(camera_pose: str, length: int, speed: float) -> torch.Tensor:
    """``[length, 4, 4]`` float64 camera-to-world matrices of a preset motion.

    Frame ``i`` carries the fraction ``i / length`` of the full motion times ``speed`` (the
    last frame reaches ``(length - 1) / length`` of it, as ComfyUI's trajectory does)."""
    angle_weights, direction = POSES[camera_pose]
    weights = torch.tensor(angle_weights, dtype=torch.float64)
    move = torch.tensor(direction, dtype=torch.float64)
    poses = torch.eye(4, dtype=torch.float64).repeat(int(length), 1, 1)
    for i in range(int(length)):
        fraction = i / int(length) * float(speed)
        poses[i, :3, :3] = rotation_xyz(fraction * ANGLE_UNIT * weights)
        poses[i, :3, 3] = fraction * TRANSLATION_UNIT * move
    return poses


def relative_to_first(c2w: torch.Tensor) -> torch.Tensor:
    """The poses seen from the first camera: ``inverse(c2w[0]) @ c2w[i]``, the first set to
    the identity exactly, in float32 (CameraCtrl's convention, which VideoX-Fun and ComfyUI
    follow)."""
    rel = torch.linalg.inv(c2w[0]) @ c2w
    rel[0] = torch.eye(4, dtype=c2w.dtype)
    return rel.to(torch.float32)


def intrinsics(width: int, height: int, fx: float, fy: float, cx: float,
               cy: float) -> tuple[float, float, float, float]:
    """Pixel ``(fx, fy, cx, cy)`` from normalised ones, the focal length across the cropped
    side measured on a 16:9 frame covering the output (the presets' 1280x720 source)."""
    width, height = int(width), int(height)
    if POSE_ASPECT > width / height:  # narrower than 16:9: the 16:9 frame is cut left and right
        fx = fx * (height * POSE_ASPECT) / width
    else:  # as wide or wider: it is cut top and bottom
        fy = fy * (width / POSE_ASPECT) / height
    values = torch.tensor([fx * width, fy * height, cx * width, cy * height], dtype=torch.float64)
    return tuple(float(v) for v in values.to(torch.float32))  # ComfyUI keeps them in float32


def pixel_rays(camera: tuple[float, float, float, float], height: int, width: int) -> torch.Tensor:
    """``[3, height, width]`` float32 unit rays, in camera axes, through each pixel centre
    ``(u + 0.5, v + 0.5)`` for pixel intrinsics ``camera = (fx, fy, cx, cy)``: the direction
    ``((u - cx) / fx, (v - cy) / fy, 1)`` normalised (before any rotation, which keeps it
    unit length)."""
    fx, fy, cx, cy = camera
    v, u = torch.meshgrid(torch.arange(int(height), dtype=torch.float32) + 0.5,
                          torch.arange(int(width), dtype=torch.float32) + 0.5, indexing="ij")
    rays = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(u)])
    return rays / rays.norm(dim=0, keepdim=True)


def plucker_matrices(c2w: torch.Tensor) -> torch.Tensor:
    """``[F, 6, 3]`` float32: for each camera-to-world pose ``[R | o]`` the map from a ray
    ``l`` in camera axes to its Plücker coordinates ``(o × R l, R l)``. Both halves are
    linear in ``l`` (``o × d = [o]× d`` with ``[o]×`` the cross-product matrix), so the
    whole embedding of a frame is one small matrix times the pixel rays."""
    c2w = c2w.to(torch.float32)
    rotation, o = c2w[:, :3, :3], c2w[:, :3, 3]
    zero = torch.zeros_like(o[:, 0])
    cross = torch.stack([torch.stack([zero, -o[:, 2], o[:, 1]], dim=-1),
                         torch.stack([o[:, 2], zero, -o[:, 0]], dim=-1),
                         torch.stack([-o[:, 1], o[:, 0], zero], dim=-1)], dim=1)  # [F, 3, 3]
    return torch.cat([cross @ rotation, rotation], dim=1)


def plucker_embedding(c2w: torch.Tensor, camera: tuple[float, float, float, float], height: int,
                      width: int) -> torch.Tensor:
    """``[F, 6, height, width]`` float32 Plücker coordinates ``(o × d, d)`` of the ray
    through each pixel centre, for camera-to-world matrices ``c2w`` ``[F, 4, 4]`` and pixel
    intrinsics ``camera``: ``d`` a unit vector in world axes, ``o`` the camera centre."""
    rays = pixel_rays(camera, height, width).view(3, -1)
    return (plucker_matrices(c2w) @ rays).view(-1, PLUCKER_CHANNELS, int(height), int(width))


def latent_groups(length: int) -> list[list[int]]:
    """The frames behind each latent frame, as the Wan VAE groups them: the first frame
    alone (given 4 times, so every group has 4), then each following 4 frames."""
    length = int(length)
    if length < 1 or (length - 1) % FRAMES_PER_LATENT:
        raise ValueError(f"{length} frames are not 4n+1")
    return [[0] * FRAMES_PER_LATENT] + [list(range(start, start + FRAMES_PER_LATENT))
                                       for start in range(1, length, FRAMES_PER_LATENT)]


def stack_group(frames: torch.Tensor) -> torch.Tensor:
    """One group's ``[4, C, ...]`` → ``[4C, ...]``: channel ``4 * c + k`` is channel ``c`` of
    the group's ``k``-th frame (channel-major, the order WanCamAdapter was trained on)."""
    return frames.transpose(0, 1).reshape(frames.shape[0] * frames.shape[1], *frames.shape[2:])


def camera_embedding(camera_pose: str, width: int, height: int, length: int, speed: float, fx: float, fy: float,
                     cx: float, cy: float) -> torch.Tensor:
    """The node's embedding: ``[1, 24, (length - 1) // 4 + 1, height, width]`` float32 on the
    CPU (see the module docstring for the channel layout).

    Its memory is laid out ``[1, T', 24, H, W]`` and returned transposed, as ComfyUI's is:
    WanCamAdapter's first step (frames into the batch, ``.contiguous()``) then copies
    nothing. Each latent frame is one ``[24, 3] @ [3, H*W]`` product written in place
    (:func:`plucker_matrices`), so the peak is the output (≈ 0.8 GB at 832x480x81)."""
    length, width, height = int(length), int(width), int(height)
    poses = relative_to_first(camera_poses(camera_pose, length, speed))
    rays = pixel_rays(intrinsics(width, height, fx, fy, cx, cy), height, width).view(3, -1)
    groups = latent_groups(length)
    store = torch.empty(len(groups), PLUCKER_CHANNELS * FRAMES_PER_LATENT, height * width)
    for t, index in enumerate(groups):
        torch.matmul(stack_group(plucker_matrices(poses[index])), rays, out=store[t])
    return store.view(1, len(groups), -1, height, width).transpose(1, 2)


@executor("WanCameraEmbedding")
def wan_camera_embedding(ctx: ExecContext, camera_pose: str, width: int, height: int, length: int, speed: float,
                         fx: float, fy: float, cx: float, cy: float, **_: Any) -> tuple:
    if camera_pose not in POSES:
        raise NodeInputError("camera_pose", f"unknown camera pose {camera_pose!r}",
                             "choose one of: " + ", ".join(POSES))
    for name, value in (("width", width), ("height", height)):
        if int(value) < 16 or int(value) % 16:
            raise NodeInputError(name, f"{name} {value} is not a positive multiple of 16",
                                 "the camera model's adapter makes one token per 16x16 pixels; "
                                 "use the same size as the latent, a multiple of 16")
    if int(length) < 1 or (int(length) - 1) % FRAMES_PER_LATENT:
        raise NodeInputError("length", f"length {length} is not 4n+1 frames",
                             "use 1, 5, 9, ... 81: the first frame, then 4 per latent frame")
    for name, value in (("fx", fx), ("fy", fy)):
        if not float(value) > 0:
            raise NodeInputError(name, f"{name} {value} is not a positive focal length",
                                 "a focal length of 0 makes every ray infinite; the default is 0.5")
    embedding = camera_embedding(camera_pose, width, height, length, speed, fx, fy, cx, cy)
    return (embedding, int(width), int(height), int(length))
