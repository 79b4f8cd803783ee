"""WanVideoAnimateEmbeds: Wan 2.2 Animate's conditioning the wrapper's way.

Follows ComfyUI-WanVideoWrapper's node (nodes.py) and its sampler's use of it
(nodes_sampler.py) as of 2025-10-15 (after "Actually use clip embeds" of 2025-10-13 and
"Force dimensions to be divisible by 16"), for one window — ``num_frames`` at most
``frame_window_size``:

- width and height are floored to multiples of 16, ``num_frames`` N to 4n+1;
- ``y`` (the sampler's image conditioning, 20 channels): the reference image's latent
  (mask channels 1) in front of the background's latents (``bg_images``, or black, as a
  video of N + 3 frames) whose mask channels are ``1 - mask`` (0 without a mask): the
  pixel mask of N + 4 frames (the last one repeated where it is short), nearest-resized to
  the latent size, its first frame repeated 4 times, then grouped by 4 into latent frames;
- ``pose_latents``: the pose video's latents (added to latent frames 1… in the model, times
  ``pose_strength``); ``face_pixels``: the face crops resized to 512x512 (lanczos, centre
  crop) in -1..1; ``face_strength`` multiplies each face adapter's output;
- images are resized (lanczos) only where their size differs, as the pack;
- the video has (N - 1)/4 + 2 latent frames: the reference's, then the video's. The
  decoder gives N + 4 frames (the reference's 4 first; workflows cut them or keep them).

Where wfrun differs (each said by name):

- ``num_frames`` above ``frame_window_size`` — the pack's long-video loop, which samples
  window after window, decoding each and encoding its last frame and the next background
  slice for the next one (with ping-pong padding and colour matching) — is refused:
  sample with ``num_frames`` ≤ ``frame_window_size`` (or context options) instead;
- exactly one reference image is required: with none the pack's sampler has no image
  conditioning for the 36-channel model, with several its latent shapes disagree;
- a pose video shorter or longer than the output: the pack pads it one latent frame short
  and fails to add it; wfrun adds the frames both have (ComfyUI's core rule, shared code);
- a background video of the wrong length (its latents must be as many as the video's) is
  refused here; the pack fails later, in the model;
- before 2025-10-13 the pack ignored ``clip_embeds`` for Animate; wfrun uses them, as the
  pack does since;
- ``colormatch`` acts only in the long-video loop (ignored otherwise, as the pack);
  ``force_offload`` sends the VAE back after encoding.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.media.image import common_upscale as comfy_upscale
from wfrun.models import placement
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.image_ops import common_upscale
from wfrun.packs.wanvideo.types import ClipEmbeds, ImageEmbeds, WanVAE
from wfrun.packs.wanvideo.vae import encode_video, set_tiling
from wfrun.sampling.conditioning import AnimateEmbeds

#: The face crops' side the motion encoder takes (the pack resizes to it).
FACE_SIZE = 512
#: Pixels per latent of the Wan 2.1 VAE that Animate uses.
STRIDE = 8


def _video(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """IMAGE [F, H, W, C] → [3, F, height, width] in -1..1; resized (lanczos) only when the
    size differs, as the pack."""
    images = images[..., :3].float()
    if images.shape[1] != height or images.shape[2] != width:
        out = common_upscale(images.movedim(-1, 1), width, height, "lanczos").movedim(0, 1)
    else:
        out = images.permute(3, 0, 1, 2)
    return out * 2 - 1


def video_size(width: Any, height: Any, num_frames: Any) -> tuple[int, int, int, int, int]:
    """(W, H, latent H, latent W, frames) of an Animate video: the size floored to multiples of
    16, the frame count to 4n+1, as the pack floors them; a size or count that leaves nothing
    is refused on its input."""
    W, H = int(width) // 16 * 16, int(height) // 16 * 16
    if W < 16 or H < 16:
        raise NodeInputError("width", f"{width}x{height} is smaller than 16 pixels a side",
                             "use a width and height of at least 16")
    frames = (int(num_frames) - 1) // 4 * 4 + 1
    if frames < 1:
        raise NodeInputError("num_frames", f"num_frames {num_frames} gives no frames", "use 1 or more frames")
    return W, H, H // STRIDE, W // STRIDE, frames


def pose_latents(encode, pose_images: torch.Tensor, width: int, height: int, frames: int) -> torch.Tensor:
    """The pose video's latents, padded with zeros to one latent frame short of a video of
    ``frames`` frames, as the pack pads them (the model adds them to the frames after the first)."""
    pose = encode(_video(pose_images, width, height))
    short = (frames - 1) // 4 - pose.shape[1]
    if short > 0:
        pose = torch.cat([pose, pose.new_zeros(pose.shape[0], short, *pose.shape[2:])], dim=1)
    return pose


def fold_mask(mask: torch.Tensor) -> torch.Tensor:
    """A per-pixel-frame mask ``[1, T, h, w]`` (T = 4k) → ``[4, k + 1, h, w]``: its first
    frame repeated 4 times, then every 4 frames one latent frame's 4 channels (the pack's
    and the Wan I2V layout)."""
    _, t, h, w = mask.shape
    mask = torch.cat([mask[:, :1].repeat_interleave(4, dim=1), mask[:, 1:]], dim=1)
    return mask.view(1, mask.shape[1] // 4, 4, h, w).movedim(1, 2)[0]


def background_mask(mask: torch.Tensor | None, frames: int, lat_h: int, lat_w: int) -> torch.Tensor:
    """The mask channels of the background latents: ``1 - mask`` over ``frames`` pixel
    frames (the last repeated where short), nearest-resized to the latent size, folded."""
    if mask is None:
        bg = torch.zeros(1, frames, lat_h, lat_w)
    else:
        bg = 1 - mask.float()[:frames]
        if bg.shape[0] < frames:
            bg = torch.cat([bg, bg[-1:].repeat(frames - bg.shape[0], 1, 1)])
        bg = comfy_upscale(bg.unsqueeze(1), lat_w, lat_h, "nearest", "disabled").squeeze(1).unsqueeze(0)
    return fold_mask(bg)


@executor("WanVideoAnimateEmbeds")
@torch.no_grad()
def wanvideo_animate_embeds(ctx: ExecContext, vae: WanVAE, width: int, height: int, num_frames: int,
                            force_offload: bool, frame_window_size: int, colormatch: str, pose_strength: float,
                            face_strength: float, *, clip_embeds: ClipEmbeds | None = None,
                            ref_images: torch.Tensor | None = None, pose_images: torch.Tensor | None = None,
                            face_images: torch.Tensor | None = None, bg_images: torch.Tensor | None = None,
                            mask: torch.Tensor | None = None, tiled_vae: bool, **_: Any) -> tuple:
    W, H, lat_h, lat_w, frames = video_size(width, height, num_frames)
    if frames > int(frame_window_size):
        raise NodeInputError("frame_window_size", f"num_frames {frames} is above frame_window_size "
                             f"{frame_window_size}: the pack's long-video window loop is not supported by wfrun",
                             "set frame_window_size to num_frames (with WanVideoContextOptions for long videos), "
                             "or make fewer frames")
    if ref_images is None or ref_images.shape[0] != 1:
        got = "none" if ref_images is None else str(ref_images.shape[0])
        raise NodeInputError("ref_images", f"wfrun needs exactly one reference image, got {got}",
                             "connect one reference image (the pack's shapes disagree with several)")
    num_refs = 1
    video_frames = frames + 4 * num_refs  # the pack's num_frames: the reference's 4 pixel frames too
    latent_frames = (frames - 1) // 4 + 1 + num_refs
    device = ctx.device
    placement.onload(vae.vae, device)
    set_tiling(vae.vae, bool(tiled_vae))

    def encode(video: torch.Tensor) -> torch.Tensor:
        return encode_video(vae, video, device, ctx=ctx).float().cpu()

    pose = pose_latents(encode, pose_images, W, H, frames) if pose_images is not None else None
    bg = _video(bg_images, W, H) if bg_images is not None else torch.zeros(3, video_frames - num_refs, H, W)
    bg_latents = encode(bg)
    if bg_latents.shape[1] != latent_frames - num_refs:
        raise NodeInputError("bg_images", f"{bg.shape[1]} background frames make {bg_latents.shape[1]} latent "
                             f"frames; the video has {latent_frames - num_refs}",
                             f"give {frames} to {frames + 3} background frames (as many as num_frames)")
    ref_latent = encode(_video(ref_images, W, H))
    ref_mask = torch.zeros(4, 1, lat_h, lat_w)
    ref_mask[:, :num_refs] = 1
    bg_mask = background_mask(mask, video_frames, lat_h, lat_w)[:, :bg_latents.shape[1]]
    y = torch.cat([torch.cat([ref_mask, ref_latent]), torch.cat([bg_mask, bg_latents])], dim=1)

    face = None
    if face_images is not None:
        crops = face_images[..., :3].float()
        if crops.shape[1] != FACE_SIZE or crops.shape[2] != FACE_SIZE:
            crops = comfy_upscale(crops.movedim(-1, 1), FACE_SIZE, FACE_SIZE, "lanczos", "center").movedim(1, -1)
        face = (crops.permute(3, 0, 1, 2) * 2 - 1).unsqueeze(0)
    if force_offload:
        placement.offload(vae.vae, ctx.offload_device)
    return (ImageEmbeds(
        num_frames=video_frames, image_embeds=y, lat_h=lat_h, lat_w=lat_w,
        target_shape=(16, latent_frames, lat_h, lat_w),
        max_seq_len=math.ceil(lat_h * lat_w / 4 * latent_frames),
        clip_context=clip_embeds.clip_embeds if clip_embeds is not None else None,
        negative_clip_context=clip_embeds.negative_clip_embeds if clip_embeds is not None else None,
        animate=AnimateEmbeds(pose_latents=pose, face_pixels=face, pose_strength=float(pose_strength),
                              face_strength=float(face_strength), masked=mask is not None)),)
