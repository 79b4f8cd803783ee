"""ComfyUI's WanAnimateToVideo (``comfy_extras/nodes_wan.py``, as of its fixes of
2025-09-22): the conditioning of Wan 2.2 Animate, for animation (a reference character
moved by a pose video and a face video) and replacement (the character put into a
background video under a mask), in chunks that continue one another.

What it attaches to both CONDITIONINGs (the sampler hands them to the model,
:mod:`.model_input`; the model's use is in :mod:`wfrun.sampling.forward`):

- ``concat_latent_image``: the reference image's latents (resized with "area", centre
  crop), then the latents of a video the length of the output: grey (0.5), with the
  ``continue_motion`` frames (the last ``continue_motion_max_frames`` of the previous
  chunk) at its start and the ``background_video`` after them;
- ``concat_mask``: 0 over the reference's latent frames; then, per pixel frame folded by 4
  into the latent frames, 1 (to make) except 0 over the continued motion's frames, and the
  ``character_mask`` (1: the character, to be made; 0: the background, kept) from the end
  of the continued frames on. ``latent frames x 4`` pixel frames: the last three stay 1;
- ``pose_video_latent``: the pose video's latents (frames from ``video_frame_offset`` on,
  padded by repeating its last frame to the length);
- ``face_video_pixels``: the face video from the offset, resized to 512x512 ("area",
  centre crop), in -1..1, ``[1, 3, T, 512, 512]``; the negative gets the same shape all -1
  (a blank face), as ComfyUI;
- ``clip_vision_output`` when given.

The LATENT is zeros of ``16 x (reference frames + (length - 1) / 4 + 1)`` latent frames;
``trim_latent`` is the reference's latent frames (TrimVideoLatent cuts them off after
sampling), ``trim_image`` the continued pixel frames (``4 x latent frames - 3`` of the
continued motion), and ``video_frame_offset`` where the next chunk starts.

ComfyUI sizes the latent by 8 and 16 channels (Wan 2.1's VAE, the one Animate was made
for); wfrun refuses another VAE by name instead of making a latent that fits nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.conditioning import set_values
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images
from wfrun.packs.comfy_core_models.wan_conditioning import _both, _with_clip, latent_channels

#: The face crops Animate's motion encoder takes (pixels a side; ComfyUI's node resizes to it).
FACE_SIZE = 512
#: Latent channels and pixels per latent of the VAE ComfyUI's node assumes (Wan 2.1's).
ANIMATE_LATENT_CHANNELS = 16
ANIMATE_STRIDE = 8


def _frames(images: Any, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]")
    return images.float()


def _fit(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """IMAGE frames resized as ComfyUI's node does (``area``, centre crop)."""
    return common_upscale(images.movedim(-1, 1), width, height, "area", "center").movedim(1, -1)


def _from_offset(video: torch.Tensor | None, offset: int) -> torch.Tensor | None:
    """The frames from ``offset`` on; None when the video ends before it (ComfyUI drops it)."""
    if video is None or video.shape[0] <= offset:
        return None
    return video[offset:]


def _mask_frames(mask: Any, length: int, offset: int, width: int, height: int) -> torch.Tensor | None:
    """``character_mask`` ``[T, H, W]`` as ``[1, 1, T', h, w]`` at latent size (nearest-exact,
    centre crop): one frame stands for every frame; a longer mask is read from ``offset``."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise NodeInputError("character_mask", "expected a MASK [frames, height, width]")
    mask = mask.float()
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.shape[0] == 1:
        mask = mask.repeat(length, 1, 1)
    elif mask.shape[0] > offset:
        mask = mask[offset:]
    else:
        return None
    mask = mask[:length]
    resized = common_upscale(mask.unsqueeze(1), width, height, "nearest-exact", "center")  # per frame
    return resized.movedim(1, 0).unsqueeze(0)


@executor("WanAnimateToVideo")
def wan_animate_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                         length: int, batch_size: int, continue_motion_max_frames: int, video_frame_offset: int,
                         clip_vision_output: Any = None, reference_image: torch.Tensor | None = None,
                         face_video: torch.Tensor | None = None, pose_video: torch.Tensor | None = None,
                         background_video: torch.Tensor | None = None, character_mask: torch.Tensor | None = None,
                         continue_motion: torch.Tensor | None = None, **_: Any) -> tuple:
    vae = check_vae(vae)
    if latent_channels(vae) != ANIMATE_LATENT_CHANNELS or int(vae.vae.spatial_compression_ratio) != ANIMATE_STRIDE:
        raise NodeInputError("vae", f"a VAE of {latent_channels(vae)} latent channels: Wan 2.2 Animate takes the "
                             "Wan 2.1 VAE's 16 (ComfyUI's node assumes it)", "load wan_2.1_vae.safetensors")
    width, height, length, offset = int(width), int(height), int(length), int(video_frame_offset)
    frames = latent_frames(length)

    reference = (torch.zeros(1, height, width, 3) if reference_image is None
                 else _frames(reference_image, "reference_image"))
    concat = encode_images(ctx, vae, _fit(reference[:length], width, height)[..., :3])
    trim_latent = concat.shape[2]
    lat_h, lat_w = concat.shape[-2:]  # the mask's size (the latent's is height / 8 x width / 8)
    motion_latents = 0
    video = torch.full((length, height, width, 3), 0.5)
    if continue_motion is not None:
        motion = _frames(continue_motion, "continue_motion")[-int(continue_motion_max_frames):]
        offset = max(0, offset - motion.shape[0])
        motion = _fit(motion[-length:], width, height)
        video = torch.full((length, height, width, motion.shape[-1]), 0.5)
        video[:motion.shape[0]] = motion
        motion_latents = latent_frames(motion.shape[0])

    positive, negative = _with_clip(positive, negative, clip_vision_output)

    pose = _from_offset(None if pose_video is None else _frames(pose_video, "pose_video"), offset)
    if pose is not None:
        pose = _fit(pose[:length], width, height)
        if pose.shape[0] < length:  # the last pose held to the end
            pose = torch.cat([pose, pose[-1:].expand(length - pose.shape[0], -1, -1, -1)], dim=0)
        positive, negative = _both(positive, negative, {"pose_video_latent": encode_images(ctx, vae, pose[..., :3])})

    face = _from_offset(None if face_video is None else _frames(face_video, "face_video"), offset)
    if face is not None:
        face = _fit(face[:length], FACE_SIZE, FACE_SIZE)[..., :3] * 2.0 - 1.0
        face = face.movedim(-1, 0).unsqueeze(0)  # [1, 3, T, 512, 512]
        positive = set_values(positive, {"face_video_pixels": face}, input_name="positive")
        negative = set_values(negative, {"face_video_pixels": torch.full_like(face, -1.0)}, input_name="negative")

    continued = max(0, motion_latents * 4 - 3)  # pixel frames the continued motion fills
    background = _from_offset(None if background_video is None else _frames(background_video, "background_video"),
                              offset)
    if background is not None:
        background = _fit(background[:length], width, height)
        if background.shape[0] > continued:
            video[continued:background.shape[0]] = background[continued:, ..., :video.shape[-1]]

    mask = torch.ones(1, 1, frames * 4, lat_h, lat_w)
    if continue_motion is not None:
        mask[:, :, :motion_latents * 4] = 0.0
    if character_mask is not None:
        character = _mask_frames(character_mask, length, offset, lat_w, lat_h)
        if character is not None and character.shape[2] > continued:
            mask[:, :, continued:character.shape[2]] = character[:, :, continued:]

    concat = torch.cat([concat, encode_images(ctx, vae, video[..., :3])], dim=2)
    folded = mask.view(1, frames, 4, lat_h, lat_w).transpose(1, 2)
    full_mask = torch.cat([torch.zeros(1, 4, trim_latent, lat_h, lat_w), folded], dim=2)
    positive, negative = _both(positive, negative, {"concat_latent_image": concat, "concat_mask": full_mask})
    latent = torch.zeros(int(batch_size), ANIMATE_LATENT_CHANNELS, frames + trim_latent, height // ANIMATE_STRIDE,
                         width // ANIMATE_STRIDE)
    return (positive, negative, {"samples": latent}, trim_latent, continued, offset + length)
