"""ComfyUI's motion-track conditioning nodes for Wan image-to-video: ATI's ``WanTrackToVideo``
(``comfy_extras/nodes_wan.py``) and Wan-Move's ``WanMoveTrackToVideo``, ``GenerateTracks``,
``WanMoveConcatTrack`` and ``WanMoveTracksFromCoords`` (``comfy_extras/nodes_wanmove.py``),
as in the versions of our specs (2026-06). The maths is shared with the wrapper's ATI
nodes (:mod:`wfrun.sampling.tracks`); track text is read by :mod:`wfrun.nodes.tracks`.

- ``WanTrackToVideo``: with no tracks it is ``WanImageToVideo``. Otherwise each batch item's
  video (its start image, then grey) is encoded, normalised, patched along its tracks (the
  tracks resampled from 121 points at 24 fps to ``length`` frames) and stored back raw as
  ``concat_latent_image``, with ``concat_mask`` ``1 -`` the tracks' weights (4 channels), on
  both CONDITIONINGs. The start images are resized to the batch, and so are the track
  batches, by ComfyUI's ``resize_to_batch_size`` rule. ``length`` must be ``4k + 1``
  (ATI groups 4 frames per latent frame; ComfyUI fails otherwise).
- ``WanMoveTrackToVideo``: the start frames and grey are encoded; the positive
  conditioning's latents get the Wan-Move feature copy along the tracks at ``strength``
  (the negative's stay as encoded); ``concat_mask`` is 0 on the start frames' latent frames.
  ComfyUI shuffles the tracks with the global random generator before placing them (it
  matters only where two tracks meet on one latent cell at one frame, where one wins at
  random); wfrun keeps their order and the last one wins. ComfyUI fails for
  ``batch_size`` above 1 with tracks (its one encoded video against a batch of track
  positions); wfrun patches the one video, which every batch item shares.
- TRACKS is ComfyUI's dict: ``track_path`` ``[frames, tracks, 2]`` pixels and
  ``track_visibility`` ``[frames, tracks]`` bool — or ``[frames, 1]`` from a ``track_mask``
  (any pixel above 0 makes its frame visible). ComfyUI indexes that one column per track
  and fails with more than one track; wfrun applies it to every track.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.tracks import coords_path, parse_track_batches, tracks_value as _tracks_value
from wfrun.nodes.tracks import mask_visibility as _visibility
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import ClipVisionOutput
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images
from wfrun.packs.comfy_core_models.wan_conditioning import wan_image_to_video
from wfrun.sampling.tracks import (TrackError, ati_patch, ati_track_tensor, pad_track_points, wanmove_positions,
                                   wanmove_replace)

#: The latents these nodes make: Wan 2.1's (ComfyUI fixes 16 channels and /8).
CHANNELS, STRIDE = 16, 8
MAX_TRACK_FRAMES = 16384


def resize_to_batch(items: list | torch.Tensor, size: int) -> list | torch.Tensor:
    """ComfyUI's ``resize_to_batch_size`` / ``resize_list_to_batch_size``: fewer items are
    spread (item ``⌊(i + ½)·n/size⌋``), more are sampled evenly from first to last."""
    n = len(items)
    if n == size or n == 0:
        return items
    if size <= 1:
        return items[:size]
    if size < n:
        scale = (n - 1) / (size - 1)
        picks = [min(round(i * scale), n - 1) for i in range(size)]
    else:
        scale = n / size
        picks = [min(math.floor((i + 0.5) * scale), n - 1) for i in range(size)]
    if isinstance(items, torch.Tensor):
        return items[picks]
    return [items[i] for i in picks]


def _both(positive: Any, negative: Any, values: dict) -> tuple[list, list]:
    return (set_values(positive, values, input_name="positive"), set_values(negative, values, input_name="negative"))


def _with_clip(positive: list, negative: list, clip_vision_output: Any) -> tuple[list, list]:
    if clip_vision_output is None:
        return positive, negative
    if not isinstance(clip_vision_output, ClipVisionOutput):
        raise NodeInputError("clip_vision_output", "expected a CLIP_VISION_OUTPUT from CLIPVisionEncode")
    return _both(positive, negative, {"clip_vision_output": clip_vision_output})


def _image(image: Any, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] == 0:
        raise NodeInputError(name, f"expected an IMAGE batch, got {type(image).__name__}")
    return image


def _sizes(width: Any, height: Any, length: Any, batch_size: Any) -> tuple[int, int, int, int]:
    width, height, length, batch_size = int(width), int(height), int(length), int(batch_size)
    if width < STRIDE or height < STRIDE:
        raise NodeInputError("width", f"a frame of {width}x{height}", f"use at least {STRIDE}x{STRIDE}")
    if length < 1 or batch_size < 1:
        raise NodeInputError("length", f"length {length}, batch_size {batch_size}", "use 1 or more")
    return width, height, length, batch_size


def _empty(batch_size: int, length: int, width: int, height: int) -> torch.Tensor:
    return torch.zeros(batch_size, CHANNELS, latent_frames(length), height // STRIDE, width // STRIDE)


def _check_wan21(vae: Any) -> None:
    if int(vae.vae.config.z_dim) != CHANNELS:
        raise NodeInputError("vae", f"a VAE with {int(vae.vae.config.z_dim)} latent channels; these nodes make "
                             f"Wan 2.1 latents ({CHANNELS})", "load the Wan 2.1 VAE")


@executor("WanTrackToVideo")
def wan_track_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: Any, tracks: Any, width: int,
                       height: int, length: int, batch_size: int, temperature: float, topk: int,
                       start_image: Any = None, clip_vision_output: Any = None, **_: Any) -> tuple:
    batches = parse_track_batches(tracks, "tracks")
    if not batches:
        return wan_image_to_video(ctx, positive, negative, vae, width=width, height=height, length=length,
                                  batch_size=batch_size, clip_vision_output=clip_vision_output,
                                  start_image=start_image)
    vae = check_vae(vae)
    _check_wan21(vae)
    width, height, length, batch_size = _sizes(width, height, length, batch_size)
    if (length - 1) % 4:
        raise NodeInputError("length", f"length {length}: ATI tracks need 4k + 1 frames", "use 81, 77, 49, ...")
    if int(topk) < 1:
        raise NodeInputError("topk", f"topk = {topk}", "use 1 or more")
    latent = _empty(batch_size, length, width, height)
    track_sets = [ati_track_tensor(pad_track_points(batch), width, height, length - 1) for batch in batches]
    if start_image is not None:
        starts = upscale_image(_image(start_image, "start_image")[:batch_size].float(), width, height, "bilinear",
                               "center")
        fmt = latent_format(CHANNELS)
        encoded = []
        for start in resize_to_batch(starts, batch_size):
            video = torch.full((length, height, width, 3), 0.5)
            video[0] = start[..., :3]
            encoded.append(encode_images(ctx, vae, video))
        y = fmt.process_in(torch.cat(encoded, dim=0))
        masks, features = [], []
        for item, item_tracks in zip(y, resize_to_batch(track_sets, batch_size)):
            try:
                mask, feature = ati_patch(item_tracks, item, float(temperature), int(topk))
            except TrackError as err:
                raise NodeInputError("tracks", str(err)) from None
            masks.append(mask.unsqueeze(0).expand(4, -1, -1, -1))
            features.append(feature)
        concat = fmt.process_out(torch.stack(features))
        mask = 1.0 - torch.stack(masks)
        positive, negative = _both(positive, negative, {"concat_mask": mask, "concat_latent_image": concat})
    positive, negative = _with_clip(positive, negative, clip_vision_output)
    return (positive, negative, {"samples": latent})


# --- Wan-Move ----------------------------------------------------------------------------

def _out(path: torch.Tensor, visibility: torch.Tensor) -> dict:
    return {"track_path": path, "track_visibility": visibility}


@executor("GenerateTracks")
def generate_tracks(ctx: ExecContext, width: int, height: int, start_x: float, start_y: float, end_x: float,
                    end_y: float, num_frames: int, num_tracks: int, track_spread: float, bezier: bool, mid_x: float,
                    mid_y: float, interpolation: str, track_mask: Any = None, **_: Any) -> tuple:
    """Parallel tracks from start to end (through a quadratic Bezier's control point when
    ``bezier``), spaced ``track_spread`` x the mean of width and height across the direction
    of motion; ``interpolation`` shapes the timing: t, t², 1-(1-t)², t²(3-2t), or 0."""
    frames, count = int(num_frames), int(num_tracks)
    if not 1 <= frames <= MAX_TRACK_FRAMES or not 1 <= count <= 4096:
        raise NodeInputError("num_frames", f"{frames} frames of {count} tracks", "use 1 to 16384 frames, 1 to 4096 tracks")
    w, h = float(width), float(height)
    sx, sy, mx, my, ex, ey = start_x * w, start_y * h, mid_x * w, mid_y * h, end_x * w, end_y * h
    spread = float(track_spread) * (w + h) / 2
    t = torch.linspace(0, 1, frames, dtype=torch.float32)
    shapes = {"constant": lambda v: torch.zeros_like(v), "linear": lambda v: v, "ease_in": lambda v: v ** 2,
              "ease_out": lambda v: 1 - (1 - v) ** 2, "ease_in_out": lambda v: v * v * (3 - 2 * v)}
    if interpolation not in shapes:
        raise NodeInputError("interpolation", f"unknown interpolation {interpolation!r}", ", ".join(shapes))
    s = shapes[interpolation](t)  # float32 positions as ComfyUI; the offsets in double (its Python floats)
    if bezier:
        u = 1 - s
        x = u ** 2 * sx + 2 * u * s * mx + s ** 2 * ex
        y = u ** 2 * sy + 2 * u * s * my + s ** 2 * ey
        tx = 2 * u * (mx - sx) + 2 * s * (ex - mx)
        ty = 2 * u * (my - sy) + 2 * s * (ey - my)
    else:
        x, y = sx + (ex - sx) * s, sy + (ey - sy) * s
        tx, ty = torch.full_like(s, ex - sx), torch.full_like(s, ey - sy)
    x, y, tx, ty = x.double(), y.double(), tx.double(), ty.double()
    length = torch.sqrt(tx ** 2 + ty ** 2)
    safe = torch.where(length > 0, length, torch.ones_like(length))
    px = torch.where(length > 0, -ty / safe, torch.ones_like(length))
    py = torch.where(length > 0, tx / safe, torch.zeros_like(length))
    offsets = (torch.arange(count, dtype=torch.float64) - (count - 1) / 2) * spread
    path = torch.stack([x[:, None] + px[:, None] * offsets, y[:, None] + py[:, None] * offsets], dim=-1).float()
    return _out(path, _visibility(track_mask, frames, count)), frames


@executor("WanMoveTracksFromCoords")
def wan_move_tracks_from_coords(ctx: ExecContext, track_coords: Any = "[]", track_mask: Any = None,
                                **_: Any) -> tuple:
    """TRACKS from track text (SplineEditor's ``coord_str``): every track as long as the first."""
    path = coords_path(track_coords)
    frames, count = path.shape[:2]
    return _out(path, _visibility(track_mask, frames, count)), frames


@executor("WanMoveConcatTrack")
def wan_move_concat_track(ctx: ExecContext, tracks_1: Any, tracks_2: Any = None, **_: Any) -> tuple:
    if tracks_2 is None:
        return (tracks_1,)
    path1, vis1 = _tracks_value(tracks_1, "tracks_1")
    path2, vis2 = _tracks_value(tracks_2, "tracks_2")
    if path1.shape[0] != path2.shape[0] or vis1.shape[0] != vis2.shape[0]:
        raise NodeInputError("tracks_2", f"tracks of {path2.shape[0]} frames after tracks of {path1.shape[0]}",
                             "give both the same num_frames")
    return (_out(torch.cat([path1, path2], dim=1), torch.cat([vis1, vis2], dim=-1)),)


@executor("WanMoveTrackToVideo")
def wan_move_track_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: Any, strength: float, width: int,
                            height: int, length: int, batch_size: int, start_image: Any = None, tracks: Any = None,
                            clip_vision_output: Any = None, **_: Any) -> tuple:
    width, height, length, batch_size = _sizes(width, height, length, batch_size)
    latent = _empty(batch_size, length, width, height)
    if start_image is not None:
        vae = check_vae(vae)
        _check_wan21(vae)
        start = upscale_image(_image(start_image, "start_image")[:length].float(), width, height, "bilinear", "center")
        video = torch.full((length, height, width, 3), 0.5)
        video[:start.shape[0]] = start[..., :3]
        concat = encode_images(ctx, vae, video)
        mask = torch.ones(1, 1, latent.shape[2], concat.shape[-2], concat.shape[-1])
        mask[:, :, :latent_frames(start.shape[0])] = 0.0
        moved = concat
        if tracks is not None and float(strength) > 0.0:
            path, visibility = _tracks_value(tracks, "tracks")
            path = path[:length]
            if visibility.shape[0] < path.shape[0]:
                raise NodeInputError("tracks", f"visibility for {visibility.shape[0]} frames, tracks of "
                                     f"{path.shape[0]}", "give the track mask as many frames as the tracks")
            positions = wanmove_positions(path.cpu(), visibility[:path.shape[0]].cpu(), height, width)
            try:
                moved = concat.clone()
                moved[0] = wanmove_replace(concat[0], positions, float(strength))
            except TrackError as err:
                raise NodeInputError("tracks", str(err)) from None
        positive = set_values(positive, {"concat_latent_image": moved, "concat_mask": mask}, input_name="positive")
        negative = set_values(negative, {"concat_latent_image": concat, "concat_mask": mask}, input_name="negative")
    positive, negative = _with_clip(positive, negative, clip_vision_output)
    return (positive, negative, {"samples": latent})
