"""WanMaskToLatentSpace (the pack's ``WanNoiseMaskToLatentSpace``): a pixel-space mask brought
to the latent grid of a Wan video, for a latent noise mask.

Optionally grown (+) or shrunk (-) first: ``expand_temporal`` steps of a 3-frame grey
dilation / erosion along time (edges repeated), ``expand_spatial`` steps of a 3x3 cross
per frame (edges mirrored: scipy's defaults, as the pack calls them). Then each frame is
reduced to ``H/8 x W/8`` (or the target size): ``max``/``min``/``mean`` pool over the
8x8 cells (resized to the target afterwards if the cells do not divide evenly),
``area`` or ``nearest`` (nearest-exact) resampling. Then time: the first frame alone and
each following group of 4 frames reduced to one (``max``/``min``/``mean``/``first``/
``last``; a short last group repeats its last frame), or every group of 4 when
``first_frame_special`` is off; at most ``(T-1)//4 + 1`` (or ``ceil(T/4)``) frames are
kept. A batch of one comes back as ``[T', h, w]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

SPATIAL = ("max", "min", "mean", "area", "nearest")
TEMPORAL = ("max", "min", "mean", "first", "last")


def _reduce_time(groups: torch.Tensor, method: str) -> torch.Tensor:
    if method == "max":
        return groups.max(dim=2)[0]
    if method == "min":
        return groups.min(dim=2)[0]
    if method == "mean":
        return groups.mean(dim=2)
    return groups[:, :, 0] if method == "first" else groups[:, :, -1]


def _grow(mask: np.ndarray, steps: int, footprint: np.ndarray, mode: str | None) -> np.ndarray:
    import scipy.ndimage  # here, not at import: every run imports the packs (0.2 s)

    op = scipy.ndimage.grey_dilation if steps > 0 else scipy.ndimage.grey_erosion
    kwargs = {"mode": mode} if mode else {}
    for _ in range(abs(steps)):
        mask = op(mask, footprint=footprint, **kwargs)
    return mask


def _expand(mask: torch.Tensor, spatial: int, temporal: int) -> torch.Tensor:
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    elif mask.ndim == 4:
        mask = mask.squeeze(1) if mask.shape[1] == 1 else mask.squeeze(0)
    values = mask.cpu().numpy()
    if temporal:
        values = _grow(values, temporal, np.ones((3, 1, 1)), "nearest")
    if spatial:
        cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])
        values = np.stack([_grow(frame, spatial, cross, None) for frame in values], axis=0)
    return torch.from_numpy(np.ascontiguousarray(values)).float()


def _reduce_space(frames: torch.Tensor, method: str, h: int, w: int) -> torch.Tensor:
    kh, kw = frames.shape[-2] // h, frames.shape[-1] // w
    if method in ("max", "min", "mean"):
        if kh > 0 and kw > 0:
            if method == "max":
                frames = F.max_pool2d(frames, (kh, kw), stride=(kh, kw))
            elif method == "min":
                frames = -F.max_pool2d(-frames, (kh, kw), stride=(kh, kw))
            else:
                frames = F.avg_pool2d(frames, (kh, kw), stride=(kh, kw))
        if frames.shape[-2:] != (h, w):
            frames = F.interpolate(frames, size=(h, w), mode="bilinear", align_corners=False) if method == "mean" \
                else F.interpolate(frames, size=(h, w), mode="nearest")
        return frames
    return F.interpolate(frames, size=(h, w), mode="area" if method == "area" else "nearest-exact")


def _groups_of_four(frames: torch.Tensor, method: str) -> torch.Tensor:
    b, t, h, w = frames.shape
    if t % 4:
        frames = torch.cat([frames, frames[:, -1:].repeat(1, 4 - t % 4, 1, 1)], dim=1)
    return _reduce_time(frames.view(b, -1, 4, h, w), method)


@executor("WanMaskToLatentSpace")
def wan_mask_to_latent_space(ctx: ExecContext, mask: Any, spatial_method: str, temporal_method: str,
                             first_frame_special: bool, target_width: int, target_height: int, expand_spatial: int,
                             expand_temporal: int, **_: Any) -> tuple:
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4) or 0 in mask.shape:
        raise NodeInputError("mask", "expected a MASK [frames, height, width]")
    if spatial_method not in SPATIAL:
        raise NodeInputError("spatial_method", f"unknown method {spatial_method!r}", f"use one of {', '.join(SPATIAL)}")
    if temporal_method not in TEMPORAL:
        raise NodeInputError("temporal_method", f"unknown method {temporal_method!r}",
                             f"use one of {', '.join(TEMPORAL)}")
    mask = mask.float()
    if int(expand_spatial) or int(expand_temporal):
        mask = _expand(mask, int(expand_spatial), int(expand_temporal))
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[None]
    b, t, height, width = mask.shape
    h = int(target_height) if int(target_height) > 0 else height // 8
    w = int(target_width) if int(target_width) > 0 else width // 8
    if h <= 0 or w <= 0:
        raise NodeInputError("mask", f"a {width}x{height} mask is smaller than one latent cell",
                             "give a mask of at least 8x8 pixels or set target_width/target_height")
    latent_t = ((t - 1) // 4 + 1 if t > 1 else 1) if first_frame_special else (t + 3) // 4
    frames = _reduce_space(mask.reshape(b * t, 1, height, width), spatial_method, h, w).view(b, t, h, w)
    if t == 1 or latent_t == 1:
        out = frames
    elif first_frame_special:
        out = torch.cat([frames[:, :1], _groups_of_four(frames[:, 1:], temporal_method)], dim=1)
    else:
        out = _groups_of_four(frames, temporal_method)
    out = out[:, :latent_t]
    return (out.squeeze(0) if b == 1 else out,)
