"""SCAIL2ColoredMask (ComfyUI ``comfy_extras/nodes_scail.py``, its multi-reference version of
2026-06) and the colour decoding WanSCAILToVideo applies to its output.

SCAIL-2 tells identities apart by colour: each tracked person is painted in one colour of a
fixed palette (blue, red, green, magenta, cyan, yellow — the model was trained on exactly
these) over a plain background, in the driving video's mask and in the reference image's.
Both outputs use the same ordering so person K gets the same colour on both sides.

SCAIL2ColoredMask, per track (the driving one, and the reference one when it is a track):

- ``sort_by``: ``left_to_right`` orders the objects by the frame each first appears in, then
  by the x of its centroid there (leftmost first); ``area`` by that frame, then the largest
  mask there first; ``none`` keeps the tracker's order. Centroid and area are measured on
  the masks at the tracker's resolution;
- ``object_indices`` (``"0,2"``; empty: all): keeps those objects of the sorted order (parts
  that are not plain digits and indices out of range are skipped, as ComfyUI does);
- rendering: the masks resized to the frames' size (nearest), object i painted in palette
  colour ``i mod 6`` where its mask is on (the lowest index wins where masks overlap), the
  background elsewhere. No object left: every frame is background.

Backgrounds: ``replacement_mode`` off (animation) paints the driving mask on black and the
reference mask on white; on (replacement), the driving mask on white and the reference mask
on black. A plain MASK given as the reference is one identity (palette colour 0, where the
mask is above 0.5, every batch entry a view of the same person); no reference gives one
background frame the size of the driving frames.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.types import Sam3TrackData

#: The identity colours, in the order SCAIL-2 was trained to read them.
PALETTE = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0))
WHITE, BLACK = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
#: A channel counts as "on" above this (225 of 255), when a coloured mask is decoded.
COLOUR_ON = 225.0 / 255.0


def _track(value: Any, name: str) -> Sam3TrackData:
    if not isinstance(value, Sam3TrackData):
        raise NodeInputError(name, f"expected a SAM3_TRACK_DATA from SAM3_VideoTrack, got {type(value).__name__}")
    return value


def _subset(track: Sam3TrackData, order: list[int]) -> Sam3TrackData:
    """The track with only the objects ``order`` names, in that order (none: no masks)."""
    if track.masks is None or not order:
        return Sam3TrackData(None, track.orig_size, track.n_frames, ())
    scores = tuple(track.scores[i] for i in order if i < len(track.scores))
    return Sam3TrackData(track.masks[:, order], track.orig_size, track.n_frames, scores)


def first_appearance(masks: torch.Tensor) -> tuple[list[int], list[float], list[float]]:
    """Per object of ``[T, N, h, w]`` bools: the first frame it is present in (T if never),
    and the x of its centroid (as a fraction of the width) and its area (as a fraction of
    the frame) in that frame (those of the last frame, 0, when it never appears)."""
    m = masks.float()
    frames, height, width = m.shape[0], m.shape[-2], m.shape[-1]
    area = m.sum(dim=(-2, -1))  # [T, N]
    xs = torch.arange(width, dtype=m.dtype)
    centroid = (m.sum(dim=-2) * xs).sum(dim=-1) / area.clamp(min=1)
    present = area > 0
    first = torch.where(present, torch.arange(frames).unsqueeze(1), torch.full_like(area, frames, dtype=torch.long))
    first = first.min(dim=0).values
    at = first.clamp(max=frames - 1)
    picked = torch.arange(m.shape[1])
    return (first.tolist(), (centroid[at, picked] / width).tolist(),
            (area[at, picked] / (height * width)).tolist())


def order_objects(track: Sam3TrackData, sort_by: str, object_indices: str) -> Sam3TrackData:
    """``sort_by`` then ``object_indices`` applied to one track (see the module docstring)."""
    if sort_by not in ("none", "left_to_right", "area"):
        raise NodeInputError("sort_by", f"{sort_by!r} is not an ordering", "none, left_to_right or area")
    if sort_by != "none" and track.masks is not None and track.masks.shape[1] > 0:
        first, cx, area = first_appearance(track.masks)
        if sort_by == "left_to_right":
            order = sorted(range(len(cx)), key=lambda i: (first[i], cx[i]))
        else:
            order = sorted(range(len(area)), key=lambda i: (first[i], -area[i]))
        track = _subset(track, order)
    if object_indices.strip():
        count = 0 if track.masks is None else track.masks.shape[1]
        picked = [int(p.strip()) for p in object_indices.split(",") if p.strip().isdigit()]
        track = _subset(track, [i for i in picked if 0 <= i < count])
    return track


def _fill(frames: int, height: int, width: int, colour: tuple[float, float, float]) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32).expand(frames, height, width, 3).clone()


def render(track: Sam3TrackData, background: tuple[float, float, float]) -> torch.Tensor:
    """The track as an IMAGE ``[T, H, W, 3]`` at the frames' size (module docstring)."""
    height, width = track.orig_size
    if track.masks is None or track.masks.shape[1] == 0:
        frames = track.n_frames if track.masks is None else track.masks.shape[0]
        return _fill(frames, height, width, background)
    frames, count = track.masks.shape[:2]
    masks = F.interpolate(track.masks.float().flatten(0, 1).unsqueeze(1), size=(height, width), mode="nearest")
    masks = masks.view(frames, count, height, width) > 0.5
    colours = torch.tensor([PALETTE[i % len(PALETTE)] for i in range(count)], dtype=torch.float32)
    owner = masks.to(torch.uint8).argmax(dim=1)  # the first object whose mask is on (0 where none is)
    painted = colours[owner]
    return torch.where(masks.any(dim=1).unsqueeze(-1), painted, torch.tensor(background))


def render_mask(mask: torch.Tensor, background: tuple[float, float, float]) -> torch.Tensor:
    """A plain MASK ``[B, H, W]`` (or ``[H, W]``) as one identity: palette colour 0 on it."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3:
        raise NodeInputError("ref_track_data", f"a MASK of shape {list(mask.shape)}", "a MASK [frames, height, width]")
    on = (mask.float() > 0.5).unsqueeze(-1)
    return torch.where(on, torch.tensor(PALETTE[0]), torch.tensor(background))


@executor("SCAIL2ColoredMask")
def scail2_colored_mask(ctx: ExecContext, driving_track_data: Any, object_indices: str, sort_by: str,
                        replacement_mode: bool, ref_track_data: Any = None, **_: Any) -> tuple:
    driving = order_objects(_track(driving_track_data, "driving_track_data"), sort_by, str(object_indices))
    replacement = bool(replacement_mode)
    pose_mask = render(driving, WHITE if replacement else BLACK)
    ref_background = BLACK if replacement else WHITE
    if ref_track_data is None:
        height, width = driving.orig_size
        reference = _fill(1, height, width, ref_background)
    elif isinstance(ref_track_data, torch.Tensor):
        reference = render_mask(ref_track_data, ref_background)
    else:
        reference = render(order_objects(_track(ref_track_data, "ref_track_data"), sort_by, str(object_indices)),
                           ref_background)
    return (pose_mask, reference)


def mask_to_28ch(rgb: torch.Tensor) -> torch.Tensor:
    """A coloured mask video ``[T, H, W, 3]`` (T = 4k + 1) as SCAIL-2 reads it:
    ``[1, T', 28, ceil(H/8), ceil(W/8)]``. Each pixel is decoded into 7 on/off channels
    (white, red, green, blue, yellow, magenta, cyan: each channel on above 225/255),
    averaged down 8x ("area"), the first frame repeated to fill a group of 4, and each 4
    frames' 7 channels stacked frame by frame into 28 (channel ``frame_in_group·7 + colour``)."""
    frames, height, width = rgb.shape[:3]
    if (frames - 1) % 4:
        raise NodeInputError("pose_video_mask", f"{frames} mask frames", "4k + 1 frames (the node trims to them)")
    on = (rgb[..., :3].float() > COLOUR_ON).movedim(-1, 1).float()  # [T, 3, H, W]
    r, g, b = on[:, 0:1], on[:, 1:2], on[:, 2:3]
    nr, ng, nb = 1 - r, 1 - g, 1 - b
    colours = torch.cat([r * g * b, r * ng * nb, nr * g * nb, nr * ng * b, r * g * nb, r * ng * b, nr * g * b], dim=1)
    lat_h, lat_w = -(-height // 8), -(-width // 8)
    colours = F.interpolate(colours, size=(lat_h, lat_w), mode="area")
    padded = torch.cat([colours[:1].expand(4, -1, -1, -1), colours[1:]], dim=0)
    return padded.reshape((frames - 1) // 4 + 1, 28, lat_h, lat_w).unsqueeze(0)
