"""WanVideoEverAnimateEmbeds: Wan 2.2 Animate's conditioning in EverAnimate's layout (N anchor
latents, then M motion latents, then the background), for the EverAnimate LoRA.

Follows the wrapper's ``everanimate/nodes.py`` as the search index holds it (commits 1972d87
and c8fb8ffe, which differ only in ``frame_window_size``'s default) and the pack's sampler,
which reads these embeds as WanVideoAnimateEmbeds' outside its long-video loop. For one
window (``num_frames`` at most ``frame_window_size``, which the pack lowers to
``num_frames``), with F = ``num_frames`` floored to 4n+1, V = (F - 1)/4 + 1 latent frames,
N = ``num_video_anchor_latents`` and M = ``num_motion_latents``:

- width and height are floored to multiples of 16; the video has V + N latent frames (the
  anchors first) and ``num_frames`` F + 4N (the decoder gives the anchors' frames first);
- the anchors (mask channels 1): the reference image's first latent frame N times
  (``repeat_user``; the pack falls back to it for the other ``anchor_select_mode`` options,
  with a warning, and so does wfrun), or ``video_anchor_latent``'s latents, cut to N or
  their last one repeated;
- the background: ``bg_images`` (or black: F + 3N frames, the pack's count) encoded, its
  mask channels ``1 - mask`` over F + 4N pixel frames folded as WanVideoAnimateEmbeds folds
  them; its first M latent frames become the motion slots (mask 1; ``prev_last_latent``'s
  last M latents, its last one repeated where it has fewer, or zeros);
- pose latents (padded with zeros to V - 1 frames where shorter), face crops (512x512,
  lanczos, centre crop) and the strengths, as WanVideoAnimateEmbeds.

The pack's model adds the pose latents to every latent frame after the first and gives the
face tokens one frame for the first latent frame only, as for one reference image: with
N anchors its shapes meet only for some input lengths, and elsewhere the pack fails or lines
the inputs up across the anchor slots. wfrun runs exactly the cases where every shape meets
and refuses the others by input, before sampling (each message says what the pack has):

- ``num_frames`` above ``frame_window_size``: the pack's EverAnimate sampler loop is not in
  wfrun (as WanVideoAnimateEmbeds' loop);
- a background whose latents are not V (without ``bg_images`` the pack's black background
  has V + floor(3N/4) latents, so only N = 1 fits; ``checks.everanimate_black_background``
  says so in ``validate`` and before a run loads anything);
- pose latents that are not V + N - 1 (a pose video of F frames fits only N = 1);
- face crops whose encoded length (ceil(T/4), the face encoder's two causal stride-2
  convolutions) plus one is not V + N;
- given latents of another size or batch than the video's.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from wfrun.media.image import common_upscale as comfy_upscale
from wfrun.models import placement
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.animate import FACE_SIZE, _video, background_mask, pose_latents, video_size
from wfrun.packs.wanvideo.types import ClipEmbeds, ImageEmbeds, WanVAE
from wfrun.packs.wanvideo.vae import encode_video, set_tiling
from wfrun.sampling.conditioning import AnimateEmbeds

log = logging.getLogger(__name__)

#: Latent channels of the Wan 2.1 VAE that Wan 2.2 Animate uses.
LATENT_CHANNELS = 16


def _given_latents(name: str, latent: Any, lat_h: int, lat_w: int) -> torch.Tensor:
    """A LATENT input as ``[16, T, h, w]`` (the pack squeezes a batch of one), checked
    against the video's latent size."""
    samples = latent["samples"] if isinstance(latent, dict) else latent
    if not isinstance(samples, torch.Tensor):
        raise NodeInputError(name, "expected a LATENT")
    if samples.dim() == 5:
        if samples.shape[0] != 1:
            raise NodeInputError(name, f"a batch of {samples.shape[0]} latents; the pack takes one video's latents",
                                 "give one video's latents")
        samples = samples[0]
    if samples.dim() != 4 or samples.shape[0] != LATENT_CHANNELS or tuple(samples.shape[2:]) != (lat_h, lat_w):
        raise NodeInputError(name, f"latents of shape {tuple(samples.shape)}; the video's are "
                             f"[{LATENT_CHANNELS}, T, {lat_h}, {lat_w}]",
                             "give latents of the same size (and VAE) as the video")
    return samples.float().cpu()


def _anchor_slots(stack: torch.Tensor, count: int) -> torch.Tensor:
    """``stack`` cut to ``count`` latent frames, or its last one repeated up to it (the pack's
    ``_pad_or_trim_anchor_slots``)."""
    stack = stack[:, :count]
    if stack.shape[1] < count:
        stack = torch.cat([stack, stack[:, -1:].repeat(1, count - stack.shape[1], 1, 1)], dim=1)
    return stack


def _motion_slots(stack: torch.Tensor, count: int) -> torch.Tensor:
    """The last ``count`` latent frames of ``stack``, its last one repeated where it has fewer."""
    if stack.shape[1] != count:
        stack = stack[:, -count:]
        if stack.shape[1] < count:
            stack = torch.cat([stack, stack[:, -1:].repeat(1, count - stack.shape[1], 1, 1)], dim=1)
    return stack


@executor("WanVideoEverAnimateEmbeds")
@torch.no_grad()
def wanvideo_everanimate_embeds(ctx: ExecContext, vae: WanVAE, width: int, height: int, num_frames: int,
                                force_offload: bool, frame_window_size: int, colormatch: str, pose_strength: float,
                                face_strength: float, num_video_anchor_latents: int, num_motion_latents: int,
                                anchor_select_mode: str, *, clip_embeds: ClipEmbeds | None = None,
                                ref_images: torch.Tensor | None = None, pose_images: torch.Tensor | None = None,
                                face_images: torch.Tensor | None = None, bg_images: torch.Tensor | None = None,
                                mask: torch.Tensor | None = None, tiled_vae: bool,
                                prev_last_latent: Any = None, video_anchor_latent: Any = None, **_: Any) -> tuple:
    W, H, lat_h, lat_w, frames = video_size(width, height, num_frames)
    n, m = int(num_video_anchor_latents), int(num_motion_latents)
    if n < 1 or m < 0:
        raise NodeInputError("num_video_anchor_latents" if n < 1 else "num_motion_latents",
                             f"{n} anchor and {m} motion latents; the pack takes at least 1 and 0")
    window = min(int(frame_window_size), frames)
    if frames > window:
        raise NodeInputError("frame_window_size", f"num_frames {frames} is above frame_window_size {window}: the "
                             "pack's EverAnimate long-video loop (in its sampler) is not supported by wfrun",
                             "set frame_window_size to num_frames, or make fewer frames")
    if ref_images is None:
        raise NodeInputError("ref_images", "EverAnimate needs a reference image (the identity anchor); the pack "
                             "refuses it too", "connect the reference image")
    video_latents = (frames - 1) // 4 + 1
    latent_frames = video_latents + n
    video_frames = frames + 4 * n  # the pack's num_frames: the anchors' 4 pixel frames each
    if anchor_select_mode != "repeat_user" and video_anchor_latent is None:
        log.warning("WanVideoEverAnimateEmbeds: anchor_select_mode %r is not implemented by the pack, which falls "
                    "back to 'repeat_user'; so does wfrun", anchor_select_mode)

    face = None
    if face_images is not None:
        tokens = math.ceil(face_images.shape[0] / 4) + 1  # the face encoder's length, plus the reference's
        if tokens != latent_frames:
            raise NodeInputError("face_images", f"{face_images.shape[0]} face crops make {tokens} face frames for "
                                 f"{latent_frames} latent frames ({n} anchors): the pack's face adapter then fails "
                                 "or lines them up across the anchor slots",
                                 f"give {4 * (latent_frames - 2) + 1} to {4 * (latent_frames - 1)} face crops, "
                                 "or set num_video_anchor_latents to 1")
        crops = face_images[..., :3].float()
        if crops.shape[1] != FACE_SIZE or crops.shape[2] != FACE_SIZE:
            crops = comfy_upscale(crops.movedim(-1, 1), FACE_SIZE, FACE_SIZE, "lanczos", "center").movedim(1, -1)
        face = (crops.permute(3, 0, 1, 2) * 2 - 1).unsqueeze(0)

    anchors = motion = None
    if video_anchor_latent is not None:
        given = _given_latents("video_anchor_latent", video_anchor_latent, lat_h, lat_w)
        if given.shape[1] != n:
            log.warning("WanVideoEverAnimateEmbeds: video_anchor_latent has %d latent frames for %d anchors; cut "
                        "or its last repeated, as the pack", given.shape[1], n)
        anchors = _anchor_slots(given, n)
    if prev_last_latent is not None and m > 0:
        motion = _motion_slots(_given_latents("prev_last_latent", prev_last_latent, lat_h, lat_w), m)

    device = ctx.device
    placement.onload(vae.vae, device)
    set_tiling(vae.vae, bool(tiled_vae))

    def encode(video: torch.Tensor) -> torch.Tensor:
        return encode_video(vae, video, device, ctx=ctx).float().cpu()

    pose = None
    if pose_images is not None:
        pose = pose_latents(encode, pose_images, W, H, window)
        if pose.shape[1] != latent_frames - 1:
            raise NodeInputError("pose_images", f"{pose_images.shape[0]} pose frames make {pose.shape[1]} pose "
                                 f"latents; the pack's model adds them to the {latent_frames - 1} latent frames "
                                 f"after the first ({n} anchors, the video's {video_latents}) and fails otherwise",
                                 "set num_video_anchor_latents to 1 (a pose video of num_frames frames), or "
                                 "disconnect pose_images")
    bg = _video(bg_images, W, H) if bg_images is not None else torch.zeros(3, frames + 3 * n, H, W)
    bg_latents = encode(bg)
    if bg_latents.shape[1] != video_latents:
        culprit = "bg_images" if bg_images is not None else "num_video_anchor_latents"
        raise NodeInputError(culprit, f"{bg.shape[1]} background frames{'' if bg_images is not None else ' (black)'} "
                             f"make {bg_latents.shape[1]} latent frames; the pack's conditioning then has "
                             f"{n + bg_latents.shape[1]} for a video of {latent_frames}",
                             f"give {frames} to {frames + 3} background frames"
                             + ("" if bg_images is not None else ", or set num_video_anchor_latents to 1"))
    if bg_latents.shape[1] < m:
        raise NodeInputError("num_motion_latents", f"{m} motion latents do not fit the background's "
                             f"{bg_latents.shape[1]} latent frames (the pack refuses it too)")
    user = encode(_video(ref_images, W, H))[:, :1]
    if anchors is None:
        anchors = user.repeat(1, n, 1, 1)
    bg_part = torch.cat([background_mask(mask, video_frames, lat_h, lat_w)[:, :bg_latents.shape[1]], bg_latents])
    if m > 0:
        bg_part[:4, :m] = 1.0
        bg_part[4:, :m] = motion if motion is not None else 0.0
    y = torch.cat([torch.cat([torch.ones(4, n, lat_h, lat_w), anchors]), bg_part], dim=1)

    if force_offload:
        placement.offload(vae.vae, ctx.offload_device)
    return (ImageEmbeds(
        num_frames=video_frames, image_embeds=y, lat_h=lat_h, lat_w=lat_w,
        target_shape=(LATENT_CHANNELS, latent_frames, lat_h, lat_w),
        max_seq_len=math.ceil(lat_h * lat_w / 4 * latent_frames),
        clip_context=clip_embeds.clip_embeds if clip_embeds is not None else None,
        negative_clip_context=clip_embeds.negative_clip_embeds if clip_embeds is not None else None,
        animate=AnimateEmbeds(pose_latents=pose, face_pixels=face, pose_strength=float(pose_strength),
                              face_strength=float(face_strength), masked=mask is not None)),)
