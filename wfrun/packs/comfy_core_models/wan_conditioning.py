"""ComfyUI's Wan conditioning nodes (``comfy_extras/nodes_wan.py``): they encode the given
frames with the VAE and attach them to both CONDITIONINGs; the sampler concatenates them
to the noise the way the model family expects (:mod:`.model_input`).

What they attach, in ComfyUI's terms:

- ``concat_latent_image``: raw latents of a video the length of the output, grey (0.5)
  where no frame is given (WanImageToVideo, first/last frame, Fun InP); for Fun Control
  the control video's latents then the start image's (32 channels, the latent mean where
  nothing is given); for the camera model the start image's.
- ``concat_mask``: 0 where a frame is given, 1 elsewhere, per latent frame
  (``[1, 1, T', h, w]``) or, where frames are given one by one, per pixel frame folded to
  4 channels (``[1, 4, T', h, w]``: frame 0 counts 4 times, as the VAE's first latent).
- ``clip_vision_output``; ``camera_conditions``; ``reference_latents`` (Wan 2.2 Fun).
- VACE: ``vace_frames`` (inactive and reactive halves of the control video, 32 channels,
  with an optional reference frame in front), ``vace_mask`` (the mask folded 8x8 into 64
  channels) and ``vace_strength``, appended so several VACE inputs stack.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale, upscale_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.conditioning import fold_frame_mask, set_values
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import ClipVisionOutput, WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images, spatial_ratio


def _fit(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    return upscale_image(image.float(), int(width), int(height), "bilinear", "center")


def _empty_latent(vae: WanVAE, batch_size: int, length: int, width: int, height: int) -> torch.Tensor:
    """Zeros in the VAE's latent shape (16 channels /8 for Wan 2.1's, 48 /16 for Wan 2.2's),
    as ComfyUI's nodes size them from ``vae.latent_channels`` and its spatial compression."""
    stride = spatial_ratio(vae)
    return torch.zeros(int(batch_size), latent_channels(vae), latent_frames(length), int(height) // stride,
                       int(width) // stride)


def latent_channels(vae: WanVAE) -> int:
    return int(vae.vae.config.z_dim)


def _both(positive: Any, negative: Any, values: dict, append: bool = False) -> tuple[list, list]:
    return (set_values(positive, values, append=append, input_name="positive"),
            set_values(negative, values, append=append, input_name="negative"))


def _with_clip(positive: list, negative: list, clip_vision_output: Any) -> tuple[list, list]:
    if clip_vision_output is None:
        return positive, negative
    if not isinstance(clip_vision_output, ClipVisionOutput):
        raise NodeInputError("clip_vision_output", "expected a CLIP_VISION_OUTPUT from CLIPVisionEncode")
    return _both(positive, negative, {"clip_vision_output": clip_vision_output})


def _frame_mask(latent: torch.Tensor, first: int = 0, last: int = 0) -> torch.Tensor:
    """1 where frames are to be made; ``first`` given frames at the start (the first counts
    as the 4 frames of the VAE's first latent) and ``last`` at the end; folded to
    ``[1, 4, T', h, w]``."""
    mask = torch.ones(1, 1, latent.shape[2] * 4, latent.shape[-2], latent.shape[-1])
    if first:
        mask[:, :, :first + 3] = 0.0
    if last:
        mask[:, :, -last:] = 0.0
    return fold_frame_mask(mask)


@executor("WanImageToVideo")
def wan_image_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                       length: int, batch_size: int, clip_vision_output: Any = None,
                       start_image: torch.Tensor | None = None, **_: Any) -> tuple:
    vae = check_vae(vae)
    latent = _empty_latent(vae, batch_size, length, width, height)
    if start_image is not None:
        start = _fit(start_image[:int(length)], width, height)
        video = torch.full((int(length), int(height), int(width), 3), 0.5)
        video[:start.shape[0]] = start[..., :3]
        concat = encode_images(ctx, vae, video)
        mask = torch.ones(1, 1, latent.shape[2], concat.shape[-2], concat.shape[-1])
        mask[:, :, :latent_frames(start.shape[0])] = 0.0
        positive, negative = _both(positive, negative, {"concat_latent_image": concat, "concat_mask": mask})
    positive, negative = _with_clip(positive, negative, clip_vision_output)
    return (positive, negative, {"samples": latent})


def _first_last(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int, length: int,
                batch_size: int, start_image: torch.Tensor | None, end_image: torch.Tensor | None,
                clip_start: Any, clip_end: Any) -> tuple:
    vae = check_vae(vae)
    latent = _empty_latent(vae, batch_size, length, width, height)
    video = torch.full((int(length), int(height), int(width), 3), 0.5)
    first = last = 0
    if start_image is not None:
        start = _fit(start_image[:int(length)], width, height)[..., :3]
        video[:start.shape[0]] = start
        first = start.shape[0]
    if end_image is not None:
        end = _fit(end_image[-int(length):], width, height)[..., :3]
        video[-end.shape[0]:] = end
        last = end.shape[0]
    concat = encode_images(ctx, vae, video)
    positive, negative = _both(positive, negative, {"concat_latent_image": concat,
                                                    "concat_mask": _frame_mask(latent, first, last)})
    clip = clip_start
    if clip_end is not None:
        if not isinstance(clip_end, ClipVisionOutput):
            raise NodeInputError("clip_vision_end_image", "expected a CLIP_VISION_OUTPUT from CLIPVisionEncode")
        clip = clip_end if clip is None else ClipVisionOutput(torch.cat(
            [clip.penultimate_hidden_states, clip_end.penultimate_hidden_states], dim=-2))
    positive, negative = _with_clip(positive, negative, clip)
    return (positive, negative, {"samples": latent})


@executor("WanFirstLastFrameToVideo")
def wan_first_last_frame_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int,
                                  height: int, length: int, batch_size: int, clip_vision_start_image: Any = None,
                                  clip_vision_end_image: Any = None, start_image: torch.Tensor | None = None,
                                  end_image: torch.Tensor | None = None, **_: Any) -> tuple:
    return _first_last(ctx, positive, negative, vae, width, height, length, batch_size, start_image, end_image,
                       clip_vision_start_image, clip_vision_end_image)


@executor("WanFunInpaintToVideo")
def wan_fun_inpaint_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                             length: int, batch_size: int, clip_vision_output: Any = None,
                             start_image: torch.Tensor | None = None, end_image: torch.Tensor | None = None,
                             **_: Any) -> tuple:
    return _first_last(ctx, positive, negative, vae, width, height, length, batch_size, start_image, end_image,
                       clip_vision_output, None)


def _control_concat(ctx: ExecContext, vae: WanVAE, latent: torch.Tensor, width: int, height: int, length: int,
                    start_image: torch.Tensor | None, control_video: torch.Tensor | None) -> torch.Tensor:
    """[B, 2C, T', h, w]: control latents then start-image latents, the latent mean elsewhere."""
    c = latent.shape[1]
    concat = latent_format(c).process_out(torch.zeros_like(latent)).repeat(1, 2, 1, 1, 1)
    if start_image is not None:
        encoded = encode_images(ctx, vae, _fit(start_image[:int(length)], width, height))
        n = min(encoded.shape[2], concat.shape[2])
        concat[:, c:, :n] = encoded[:, :, :n]
    if control_video is not None:
        encoded = encode_images(ctx, vae, _fit(control_video[:int(length)], width, height))
        n = min(encoded.shape[2], concat.shape[2])
        concat[:, :c, :n] = encoded[:, :, :n]
    return concat


@executor("WanFunControlToVideo")
def wan_fun_control_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                             length: int, batch_size: int, clip_vision_output: Any = None,
                             start_image: torch.Tensor | None = None, control_video: torch.Tensor | None = None,
                             **_: Any) -> tuple:
    vae = check_vae(vae)
    latent = _empty_latent(vae, batch_size, length, width, height)
    concat = _control_concat(ctx, vae, latent, width, height, length, start_image, control_video)
    positive, negative = _both(positive, negative, {"concat_latent_image": concat})
    positive, negative = _with_clip(positive, negative, clip_vision_output)
    return (positive, negative, {"samples": latent})


@executor("Wan22FunControlToVideo")
def wan22_fun_control_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                               length: int, batch_size: int, ref_image: torch.Tensor | None = None,
                               control_video: torch.Tensor | None = None, start_image: torch.Tensor | None = None,
                               **_: Any) -> tuple:
    vae = check_vae(vae)
    latent = _empty_latent(vae, batch_size, length, width, height)
    concat = _control_concat(ctx, vae, latent, width, height, length, start_image, control_video)
    first = 0 if start_image is None else min(int(length), start_image.shape[0])
    values = {"concat_latent_image": concat, "concat_mask": _frame_mask(latent, first), "concat_mask_index": latent.shape[1]}
    positive, negative = _both(positive, negative, values)
    if ref_image is not None:
        ref = encode_images(ctx, vae, _fit(ref_image[:1], width, height))
        positive, negative = _both(positive, negative, {"reference_latents": [ref]}, append=True)
    return (positive, negative, {"samples": latent})


@executor("WanCameraImageToVideo")
def wan_camera_image_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                              length: int, batch_size: int, clip_vision_output: Any = None,
                              start_image: torch.Tensor | None = None, camera_conditions: Any = None,
                              **_: Any) -> tuple:
    vae = check_vae(vae)
    latent = _empty_latent(vae, batch_size, length, width, height)
    if start_image is not None:
        concat = latent_format(latent.shape[1]).process_out(torch.zeros_like(latent))
        encoded = encode_images(ctx, vae, _fit(start_image[:int(length)], width, height))
        n = min(encoded.shape[2], concat.shape[2])
        concat[:, :, :n] = encoded[:, :, :n]
        first = min(int(length), start_image.shape[0])
        positive, negative = _both(positive, negative, {"concat_latent_image": concat,
                                                        "concat_mask": _frame_mask(latent, first)})
    if camera_conditions is not None:
        positive, negative = _both(positive, negative, {"camera_conditions": camera_conditions})
    positive, negative = _with_clip(positive, negative, clip_vision_output)
    return (positive, negative, {"samples": latent})


@executor("WanVaceToVideo")
def wan_vace_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                      length: int, batch_size: int, strength: float, control_video: torch.Tensor | None = None,
                      control_masks: torch.Tensor | None = None, reference_image: torch.Tensor | None = None,
                      **_: Any) -> tuple:
    vae = check_vae(vae)
    length, width, height = int(length), int(width), int(height)
    if width % 8 or height % 8:
        raise NodeInputError("width", f"{width}x{height} is not a multiple of 8", "VACE folds the mask on an 8x8 grid")
    frames = latent_frames(length)
    if control_video is not None:
        video = _fit(control_video[:length], width, height)[..., :3]
        if video.shape[0] < length:
            video = F.pad(video, (0, 0, 0, 0, 0, 0, 0, length - video.shape[0]), value=0.5)
    else:
        video = torch.full((length, height, width, 3), 0.5)
    reference = None
    if reference_image is not None:
        reference = encode_images(ctx, vae, _fit(reference_image[:1], width, height))
        reference = torch.cat([reference, latent_format(16).process_out(torch.zeros_like(reference))], dim=1)
    if control_masks is None:
        mask = torch.ones(length, height, width, 1)
    else:
        m = control_masks.float()
        m = m.unsqueeze(1) if m.ndim == 3 else m
        mask = common_upscale(m[:length], width, height, "bilinear", "center").movedim(1, -1)
        if mask.shape[0] < length:
            mask = F.pad(mask, (0, 0, 0, 0, 0, 0, 0, length - mask.shape[0]), value=1.0)
    centred = video - 0.5
    inactive = encode_images(ctx, vae, centred * (1 - mask) + 0.5)
    reactive = encode_images(ctx, vae, centred * mask + 0.5)
    vace_latent = torch.cat([inactive, reactive], dim=1)
    if reference is not None:
        vace_latent = torch.cat([reference, vace_latent], dim=2)
    stride, h8, w8 = 8, height // 8, width // 8
    folded = mask.reshape(length, h8, stride, w8, stride).permute(2, 4, 0, 1, 3).reshape(stride * stride, length, h8, w8)
    folded = F.interpolate(folded.unsqueeze(0), size=(frames, h8, w8), mode="nearest-exact").squeeze(0)
    trim = 0
    if reference is not None:
        trim = reference.shape[2]
        folded = torch.cat([torch.zeros_like(folded[:, :trim]), folded], dim=1)
        frames += trim
    values = {"vace_frames": [vace_latent], "vace_mask": [folded.unsqueeze(0)], "vace_strength": [float(strength)]}
    positive, negative = _both(positive, negative, values, append=True)
    latent = torch.zeros(int(batch_size), 16, frames, h8, w8)
    return (positive, negative, {"samples": latent}, trim)
