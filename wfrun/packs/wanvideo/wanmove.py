"""The wrapper's Wan-Move nodes (``WanMove/nodes.py``, 2025-12-09 on): motion tracks for
Alibaba's Wan-Move image-to-video model (a Wan 2.1 I2V 14B fine-tune; no new layers).

- ``WanVideoAddWanMoveTracks`` reads the tracks — ``track_coords`` text (SplineEditor's
  ``coord_str``; every track as long as the first) before a ``tracks`` TRACKS dict — cuts
  them to the embeds' ``num_frames``, and stores each track's latent cell per latent frame
  (Wan-Move's ``create_pos_feature_map``, :func:`~wfrun.sampling.tracks.wanmove_positions`)
  with ``strength`` on the image embeds. The frame size is the embeds' latent size x 8.
  Visibility: a ``track_mask`` (a frame is visible where any mask pixel is above 0),
  else the TRACKS' own, else every point. The sampler copies the start frame's latent
  features along the tracks into the cond pass's image conditioning
  (:func:`wfrun.sampling.loop._wanmove_cond`). The node also returns the TRACKS it used.
  As in ComfyUI's Wan-Move nodes, the pack shuffles the tracks before placing them, which
  matters only where two tracks meet on one latent cell at one frame; wfrun places them in
  the order given (the last one wins). A one-column mask visibility is applied to every
  track (the pack's indexing fails with more than one track).
- ``WanVideoWanDrawWanMoveTracks`` draws the tracks over images
  (:func:`wfrun.media.track_drawing.draw_tracks`); images fewer than the track frames are
  repeated (``track frames // image frames`` times, as the pack); more images than track
  frames are refused (the pack repeats them 0 times: an empty video). Its first signature
  (2025-12-09, a blank ``width`` x ``height`` canvas, no images) is refused.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from wfrun.media.track_drawing import draw_tracks
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.tracks import coords_path, mask_visibility, tracks_value
from wfrun.packs.wanvideo.types import ImageEmbeds
from wfrun.sampling.conditioning import WanMoveEmbeds
from wfrun.sampling.tracks import wanmove_positions

#: Pixels per latent cell (Wan 2.1 VAE).
VAE_SPATIAL = 8


def _frame_size(embeds: ImageEmbeds) -> tuple[int, int]:
    if embeds.target_shape is not None:
        return int(embeds.target_shape[2]) * VAE_SPATIAL, int(embeds.target_shape[3]) * VAE_SPATIAL
    if embeds.lat_h is None or embeds.lat_w is None:
        raise NodeInputError("image_embeds", "image embeds without a latent size",
                             "connect WanVideoImageToVideoEncode's image_embeds")
    return int(embeds.lat_h) * VAE_SPATIAL, int(embeds.lat_w) * VAE_SPATIAL


@executor("WanVideoAddWanMoveTracks")
def wanvideo_add_wanmove_tracks(ctx: ExecContext, image_embeds: Any, strength: float, track_mask: Any = None,
                                track_coords: Any = None, tracks: Any = None, **_: Any) -> tuple:
    if not isinstance(image_embeds, ImageEmbeds):
        raise NodeInputError("image_embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(image_embeds).__name__}")
    height, width = _frame_size(image_embeds)
    num_frames = int(image_embeds.num_frames)
    visibility = None
    if track_coords is not None:
        path = coords_path(track_coords)
    elif tracks is not None:
        path, own = tracks_value(tracks, "tracks")
        if track_mask is None:
            visibility = own
    else:
        raise NodeInputError("track_coords", "no tracks given", "connect track_coords or tracks")
    path = path[:num_frames].float().cpu()
    if visibility is None:
        visibility = mask_visibility(track_mask, num_frames, path.shape[1])
    if visibility.shape[0] < path.shape[0]:
        raise NodeInputError("track_mask", f"visibility for {visibility.shape[0]} frames, tracks of {path.shape[0]}",
                             "give the track mask as many frames as the tracks")
    positions = wanmove_positions(path, visibility[:path.shape[0]].cpu(), height, width)
    embeds = dataclasses.replace(image_embeds, wanmove=WanMoveEmbeds(positions=positions, strength=float(strength)))
    return embeds, {"track_path": path, "track_visibility": visibility}


@executor("WanVideoWanDrawWanMoveTracks")
def wanvideo_draw_wanmove_tracks(ctx: ExecContext, tracks: Any, line_resolution: int, circle_size: int,
                                 opacity: float, line_width: int, images: Any = None, **_: Any) -> tuple:
    if images is None:
        raise NodeInputError("images", "the first WanVideoWanDrawWanMoveTracks (2025-12-09, width and height, no "
                             "images) is not supported", "connect the images to draw on")
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", f"expected an IMAGE [frames, height, width, 3], got {type(images).__name__}")
    if tracks is None or (isinstance(tracks, dict) and "track_path" not in tracks):
        return (images.float().cpu(),)  # the pack returns the images untouched
    path, visibility = tracks_value(tracks, "tracks")
    frames = images[..., :3].float().cpu() * 255.0
    if frames.shape[0] != path.shape[0]:
        frames = frames.repeat(max(path.shape[0] // frames.shape[0], 1), 1, 1, 1)
    if frames.shape[0] > path.shape[0]:
        raise NodeInputError("tracks", f"tracks of {path.shape[0]} frames for {frames.shape[0]} images",
                             "give tracks at least as long as the video")
    vis = visibility.bool().expand(-1, path.shape[1]).cpu().numpy() if visibility.shape[-1] == 1 \
        else visibility.bool().cpu().numpy()
    drawn = draw_tracks(frames.numpy().astype(np.uint8), path.cpu().numpy(), vis, track_frame=int(line_resolution),
                        circle_size=int(circle_size), opacity=float(opacity), line_width=int(line_width))
    return (torch.from_numpy(drawn).float() / 255.0,)
