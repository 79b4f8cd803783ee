"""Motion tracks written into the image conditioning of a Wan image-to-video model: no model
change, only the latent the model is given next to its noise.

Two methods, each shared by the ComfyUI core node and the WanVideoWrapper node that use it:

- **ATI** (ByteDance's "Any Trajectory Instruction"; ComfyUI ``WanTrackToVideo``, the
  wrapper's ``WanVideoATITracks`` read by its sampler). Tracks are given at 24 fps as up to
  121 points ``(x, y)`` in pixels. They are centred on the frame and divided by half its
  short edge, then resampled to the video's frames (:func:`ati_track_tensor`). Each latent
  frame after the first averages its 4 pixel frames' visible points; every latent cell then
  takes, from the ``topk`` nearest track points, the first frame's latent feature at each
  track's start point, weighted by ``exp(-temperature * distance²)`` (positions and the
  latent grid both in units of half the short edge, the grid spanning ``±W/min(H, W)`` by
  ``±H/min(H, W)``), and keeps the rest of its own feature (``1 - clamp(sum of weights)``);
  the mask channels become the summed weights (1 on the first frame) (:func:`ati_patch`).
- **Wan-Move** (Alibaba's; ComfyUI ``WanMoveTrackToVideo``). Each track's pixel position on
  every 4th frame becomes a latent cell (``//8``); on each later latent frame the cell on
  the track takes the first latent frame's feature at the track's start cell, mixed with
  its own by ``strength`` (:func:`wanmove_positions`, :func:`wanmove_replace`).

Both work on normalised latents for ATI (its patch is not linear) and on any per-channel
affine form for Wan-Move (a copy and a lerp commute with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: ATI's fixed track length: 121 points at 24 fps cover 81 frames at 16 fps.
ATI_TRACK_POINTS = 121


@dataclass(frozen=True)
class AtiTracks:
    """The wrapper's ATI settings attached to a model by WanVideoATITracks: the padded track
    points (``[N, 121, 3]``, :func:`pad_track_points`) on a ``width`` x ``height`` frame,
    and when and how they act.

    The pack makes the track tensor there, for 81 frames, and its sampler fails on any other
    video length; wfrun makes it in the sampler for the video's frames (:meth:`for_latent`)
    with ComfyUI's resampling, which is the pack's for 81 frames and lets other lengths run."""

    points: np.ndarray
    width: int
    height: int
    temperature: float = 220.0
    topk: int = 2
    start_percent: float = 0.0
    end_percent: float = 1.0

    def for_latent(self, latent_frames: int) -> torch.Tensor:
        """The ``[1 + 4·(latent_frames - 1), N, 4]`` track tensor for a video of that many
        latent frames."""
        return ati_track_tensor(self.points, self.width, self.height, 4 * (int(latent_frames) - 1))


class TrackError(ValueError):
    """Tracks that do not fit the video they are applied to."""


def pad_track_points(tracks: list[list[tuple[float, float]]], length: int = ATI_TRACK_POINTS) -> np.ndarray:
    """``[N, length, 3]`` float32: each track's ``(x, y, 1)`` points, cut to ``length`` or
    padded with ``(0, 0, 0)`` (an invisible point) — ATI's ``pad_pts``."""
    out = np.zeros((len(tracks), length, 3), dtype=np.float32)
    for i, track in enumerate(tracks):
        points = np.asarray(track[:length], dtype=np.float32).reshape(-1, 2)
        out[i, :len(points), :2] = points
        out[i, :len(points), 2] = 1.0
    return out


def ati_frame_rows(num_frames: int) -> list[int]:
    """Which of the 120 track points after the first (0-based) stand for the video frames
    after the first: the pack repeats every point ``b`` times and keeps every ``a``-th from
    the second (``a/b`` = 120/num_frames in lowest terms), so frame ``j`` takes point
    ``(1 + j·a) // b``. That is ``num_frames`` points, except where ``a`` is 1 (a multiple of
    120 frames): one fewer, as in the pack (the patch then refuses the tracks)."""
    if num_frames <= 0:
        return []
    g = math.gcd(ATI_TRACK_POINTS - 1, num_frames)
    a, b = (ATI_TRACK_POINTS - 1) // g, num_frames // g
    return [p // b for p in range(1, (ATI_TRACK_POINTS - 1) * b, a)]


def ati_track_tensor(points: np.ndarray, width: int, height: int, num_frames: int = 80) -> torch.Tensor:
    """``[num_frames + 1, N, 4]``: per frame and track ``(time, x, y, visible)`` with time
    from -1 to 1 over the 121 points, ``x, y`` centred and divided by half the short edge,
    visible ±1 — ATI's ``process_tracks`` for ``points`` ``[N, 121, 3]`` in pixels."""
    tracks = torch.from_numpy(np.ascontiguousarray(points)).float().permute(1, 0, 2)  # [121, N, 3]
    short = min(int(width), int(height))
    xy = (tracks[..., :2] - torch.tensor([width, height], dtype=torch.float32) / 2) / short * 2
    visible = tracks[..., 2:3] * 2 - 1
    time = torch.linspace(-1, 1, tracks.shape[0]).view(-1, 1, 1).expand_as(visible)
    full = torch.cat([time, xy, visible], dim=-1)
    rows = [0] + [1 + r for r in ati_frame_rows(num_frames)]
    return full[rows]


def ati_patch(tracks: torch.Tensor, features: torch.Tensor, temperature: float,
              topk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ATI's motion patch of one video: ``tracks`` ``[1 + 4·(T-1), N, 4]`` from
    :func:`ati_track_tensor`, ``features`` the normalised latents ``[C, T, H, W]``. Returns
    the weight mask ``[T, H, W]`` (1 on frame 0) and the patched features ``[C, T, H, W]``
    (frame 0 unchanged)."""
    c, t, h, w = features.shape
    if tracks.ndim != 3 or tracks.shape[-1] != 4:
        raise TrackError(f"expected tracks [frames, tracks, 4], got {tuple(tracks.shape)}")
    if tracks.shape[0] != 1 + 4 * (t - 1):
        raise TrackError(f"{tracks.shape[0]} track frames for {t} latent frames: ATI needs 4 frames per latent "
                         f"frame after the first ({1 + 4 * (t - 1)})")
    dtype = features.dtype
    tracks = tracks.to(features.device, torch.float32)
    xy, visible = tracks[..., 1:3], tracks[..., 3:4].clamp(0, 1)
    n = xy.shape[1]
    m = min(h, w)
    extent = torch.tensor([w / m, h / m], device=features.device)
    # the 4 pixel frames of each later latent frame: their visible points averaged
    vis4 = visible[1:].reshape(t - 1, 4, n, 1)
    seen = vis4.sum(1)
    mean_xy = (xy[1:].reshape(t - 1, 4, n, 2) * vis4).sum(1) / (seen + 1e-5)
    gx = torch.linspace(-w / m, w / m, w, device=features.device)
    gy = torch.linspace(-h / m, h / m, h, device=features.device)
    grid = torch.stack([gx.view(1, w).expand(h, w), gy.view(h, 1).expand(h, w)], dim=-1)  # [H, W, (x, y)]
    dist = (mean_xy[:, None, None] - grid[None, :, :, None]).pow(2).sum(-1)  # [T-1, H, W, N]
    weight = torch.exp(-dist * float(temperature)) * seen.clamp(0, 1).view(t - 1, 1, 1, n)
    top_w, top_i = torch.topk(weight, k=min(int(topk), n), dim=-1)
    # each track's feature where it starts, sampled bilinearly from the first latent frame
    start = (xy[0] / extent).clamp(-1, 1).view(1, 1, n, 2)
    first = features[:, 0].float().unsqueeze(0)
    start_feat = F.grid_sample(first, start, mode="bilinear", padding_mode="zeros", align_corners=False)
    start_feat = start_feat.view(c, n).t()  # [N, C]
    moved = (start_feat[top_i] * top_w.unsqueeze(-1)).sum(-2).permute(3, 0, 1, 2)  # [C, T-1, H, W]
    total = top_w.sum(-1)  # [T-1, H, W]
    later = moved + features[:, 1:].float() * (1 - total.clamp(0, 1))
    out = torch.cat([features[:, :1].float(), later], dim=1).to(dtype)
    mask = torch.cat([torch.ones_like(total[:1]), total], dim=0).to(dtype)
    return mask, out


def wanmove_positions(path: torch.Tensor, visibility: torch.Tensor, height: int, width: int,
                      t_down: int = 4, h_down: int = 8, w_down: int = 8) -> torch.Tensor:
    """``[N, T', 2]`` long: each track's latent cell ``(row, column)`` on every ``t_down``-th
    frame of ``path`` ``[T, N, 2]`` (pixels), or ``(-1, -1)`` where it is hidden or outside
    the ``width`` x ``height`` frame — Wan-Move's ``create_pos_embeddings`` ("sample")."""
    n = path.shape[1]
    picked = path[::t_down].float()  # [T', N, 2]
    seen = visibility[::t_down].bool()
    if seen.shape[-1] != n:
        seen = seen.expand(-1, n)
    x, y = picked[..., 0], picked[..., 1]
    inside = seen & (x >= 0) & (y >= 0) & (x < width) & (y < height)
    rows = torch.floor(y / h_down).long()
    cols = torch.floor(x / w_down).long()
    pos = torch.stack([rows, cols], dim=-1)
    pos = torch.where(inside.unsqueeze(-1), pos, torch.full_like(pos, -1))
    return pos.permute(1, 0, 2).contiguous()


def wanmove_replace(latent: torch.Tensor, positions: torch.Tensor, strength: float) -> torch.Tensor:
    """A copy of ``latent`` ``[C, T, H, W]`` where, for every track of ``positions``
    ``[N, T', 2]`` and every later frame ``t ≥ 1`` where it is placed, the cell becomes
    ``own + (start - own)·strength`` with ``start`` the frame-0 feature at the track's frame-0
    cell (as in the pack, a track hidden on frame 0 reads the cell at index -1, -1: the last
    row and column). Every value is read from the input; where tracks meet on one cell the
    last track in order wins."""
    c, t, h, w = latent.shape
    n, tp = positions.shape[0], positions.shape[1]
    if tp > t:
        raise TrackError(f"tracks cover {tp} latent frames, the video has {t}")
    out = latent.clone()
    if n == 0 or tp < 2:
        return out
    later = positions[:, 1:]
    valid = (later[..., 0] >= 0) & (later[..., 1] >= 0)
    track_idx, rel = valid.nonzero(as_tuple=True)
    if track_idx.numel() == 0:
        return out
    frame = rel + 1
    row, col = later[track_idx, rel, 0], later[track_idx, rel, 1]
    if (row >= h).any() or (col >= w).any():
        raise TrackError(f"a track cell lies outside the latent's {h}x{w}")
    src_row, src_col = positions[track_idx, 0, 0] % h, positions[track_idx, 0, 1] % w
    src = latent[:, 0, src_row, src_col]  # [C, K]
    dst = latent[:, frame, row, col]
    value = dst + (src - dst) * float(strength)
    flat = ((frame * h + row) * w + col).cpu().numpy()
    # keep the last write of every cell (the order the tracks were given)
    _, last_rev = np.unique(flat[::-1], return_index=True)
    keep = torch.from_numpy(len(flat) - 1 - last_rev).to(latent.device)
    out[:, frame[keep], row[keep], col[keep]] = value[:, keep]
    return out
