"""WanVideoFunCameraEmbeds (the pack's ``fun_camera/nodes.py``, 2025-04-29 on): CameraCtrl
poses (ADE's CAMERACTRL_POSES) → the Plücker rays Wan 2.1 Fun Control-Camera's adapter
takes, as image embeds for WanVideoImageToVideoEncode's ``control_embeds`` or for the
sampler itself (text-to-video).

The pack's steps (after CameraCtrl's ``inference.py``), one pose per video frame:

1. Intrinsics: ``fx, fy, cx, cy`` (fractions of the image) are fitted to the video's aspect
   from a pose aspect of 1280x720 — always that one: the pack does not read the original
   pose size in the poses' slots 5 and 6. A pose aspect wider than the video scales
   ``fx`` by ``height·(1280/720)/width``, else ``fy`` by ``width/(1280/720)/height``; in
   pixels ``K = (fx·W, fy·H, cx·W, cy·H)``.
2. Cameras relative to the first: ``c2w'_0 = I``, ``c2w'_i = w2c_0 · c2w_i``.
3. Rays through each pixel centre ``(u + ½, v + ½)``: direction
   ``d = normalise(R · ((u+½-cx)/fx, (v+½-cy)/fy, 1))``, origin ``o = t``; the Plücker
   coordinates ``(o × d, d)``: 6 numbers a pixel, in float32.
4. Latent frames as the Wan VAE groups video frames: the first frame four times, then
   each following four; channel ``4c + k`` is ray component ``c`` of the group's ``k``-th
   frame: ``[1, 24, (N-1)/4 + 1, H, W]``, times ``strength``.

The embeds' ``target_shape`` is ``(16, (N-1)/4 + 1, H/8, W/8)``. The sampler side is
:mod:`wfrun.sampling.fun_camera`. wfrun refuses a pose count that is not ``4n + 1`` (the
pack's reshape fails on it) and a size that is not a multiple of 16.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.conditioning import ControlEmbeds, ImageEmbeds

#: The pose size the pack assumes for every pose (CameraCtrl's RealEstate10K frames).
POSE_WIDTH, POSE_HEIGHT = 1280, 720
POSE_LENGTH = 19


def read_poses(poses: Any) -> list[list[float]]:
    if not isinstance(poses, (list, tuple)) or not poses:
        raise NodeInputError("poses", f"expected CAMERACTRL_POSES (a list of camera poses), got {type(poses).__name__}",
                             "connect an ADE camera pose node (Create CameraCtrl Poses)")
    out = []
    for n, pose in enumerate(poses):
        try:
            values = [float(v) for v in pose]
        except (TypeError, ValueError):
            raise NodeInputError("poses", f"pose {n} is not a list of numbers") from None
        if len(values) != POSE_LENGTH or not all(math.isfinite(v) for v in values):
            raise NodeInputError("poses", f"pose {n} has {len(values)} numbers (or a non-finite one), not the "
                                 f"{POSE_LENGTH} of a CameraCtrl pose")
        out.append(values)
    return out


def intrinsics(poses: list[list[float]], width: int, height: int) -> np.ndarray:
    """``[N, 4]`` float32: ``fx, fy, cx, cy`` in pixels, fitted to the video's aspect."""
    video_ratio = width / height
    pose_ratio = POSE_WIDTH / POSE_HEIGHT
    out = []
    for p in poses:
        fx, fy, cx, cy = p[1:5]
        if pose_ratio > video_ratio:
            fx = (height * pose_ratio) * fx / width
        else:
            fy = (width / pose_ratio) * fy / height
        out.append([fx * width, fy * height, cx * width, cy * height])
    return np.asarray(out, dtype=np.float32)


def relative_cameras(poses: list[list[float]]) -> np.ndarray:
    """``[N, 4, 4]`` float32 camera-to-world matrices relative to the first camera."""
    w2c = []
    for p in poses:
        m = np.eye(4)
        m[:3] = np.asarray(p[7:], dtype=np.float64).reshape(3, 4)
        w2c.append(m)
    first = np.eye(4) @ w2c[0]
    out = [np.eye(4)] + [first @ np.linalg.inv(m) for m in w2c[1:]]
    return np.asarray(out, dtype=np.float32)


def plucker_rays(k: torch.Tensor, c2w: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[N, 6, H, W]``: each pixel's Plücker coordinates ``(o × d, d)`` for cameras ``c2w``
    ``[N, 4, 4]`` with pixel intrinsics ``k`` ``[N, 4]``."""
    dtype = c2w.dtype
    v, u = torch.meshgrid(torch.arange(height, dtype=dtype) + 0.5, torch.arange(width, dtype=dtype) + 0.5,
                          indexing="ij")
    fx, fy, cx, cy = (k[:, i].view(-1, 1, 1) for i in range(4))
    xs, ys = (u - cx) / fx, (v - cy) / fy                               # [N, H, W]
    dirs = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)                      # [N, H, W, 3]
    d = torch.einsum("nhwj,nij->nhwi", dirs, c2w[:, :3, :3])            # R · dir
    o = c2w[:, :3, 3].view(-1, 1, 1, 3).expand_as(d)
    return torch.cat([torch.linalg.cross(o, d, dim=-1), d], dim=-1).permute(0, 3, 1, 2)


def fold_frames(rays: torch.Tensor) -> torch.Tensor:
    """``[N, 6, H, W]`` per video frame → ``[1, 24, (N-1)/4 + 1, H, W]`` per latent frame."""
    frames = torch.cat([rays[:1].expand(4, -1, -1, -1), rays[1:]])    # [N + 3, 6, H, W]
    groups = frames.shape[0] // 4
    grouped = frames.view(groups, 4, 6, *frames.shape[2:]).transpose(1, 2)  # [T, 6, 4, H, W]
    return grouped.reshape(groups, 24, *frames.shape[2:]).transpose(0, 1).unsqueeze(0)


def camera_embedding(poses: list[list[float]], width: int, height: int) -> torch.Tensor:
    k = torch.from_numpy(intrinsics(poses, width, height))
    c2w = torch.from_numpy(relative_cameras(poses))
    return fold_frames(plucker_rays(k, c2w, height, width))


@executor("WanVideoFunCameraEmbeds")
def wanvideo_fun_camera_embeds(ctx: ExecContext, poses: Any, width: int, height: int, strength: float,
                               start_percent: float, end_percent: float, **_: Any) -> tuple:
    cams = read_poses(poses)
    for name, value in (("width", width), ("height", height)):
        if int(value) % 16 or int(value) < 16:
            raise NodeInputError(name, f"{value} is not a positive multiple of 16",
                                 "the Wan VAE downsamples by 8 and the transformer patches by 2")
    n = len(cams)
    if (n - 1) % 4:
        raise NodeInputError("poses", f"{n} poses: the camera embeds need 4n + 1 (one per video frame, e.g. 81)",
                             "set the pose node's frame_length to the video's frame count")
    W, H = int(width), int(height)
    rays = camera_embedding(cams, W, H) * float(strength)
    control = ControlEmbeds(control_images=None, camera=rays, camera_start_percent=float(start_percent),
                            camera_end_percent=float(end_percent))
    return (ImageEmbeds(num_frames=n, target_shape=(16, (n - 1) // 4 + 1, H // 8, W // 8), control_embeds=control),)


def check_camera(name: str, transformer: Any, image_embeds: ImageEmbeds) -> bool:
    """Before sampling: a Fun-Camera model (it has ``control_adapter``) needs camera embeds,
    and camera embeds need such a model. True when both are there (the sampler's channel
    checks by family then do not apply: the camera comes through the adapter)."""
    control = image_embeds.control_embeds
    has_rays = control is not None and control.camera is not None
    is_camera = getattr(transformer, "control_adapter", None) is not None
    if has_rays and not is_camera:
        raise NodeInputError("image_embeds", f"Fun-Camera embeds need a Wan-Fun Control-Camera model, not {name}",
                             "load a Wan2.1-Fun-*-Control-Camera file in WanVideoModelLoader")
    if is_camera and not has_rays:
        raise NodeInputError("image_embeds", f"{name} is a Wan-Fun Control-Camera model: it needs camera embeds",
                             "connect WanVideoFunCameraEmbeds (to WanVideoImageToVideoEncode's control_embeds, or "
                             "to the sampler for text-to-video)")
    return is_camera
