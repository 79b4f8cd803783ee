"""ComfyUI's WanAnimate2ToVideo and WanAnimate2Cache (``comfy_extras/nodes_wan.py``, Wan
Animate 2, merged 2026-08 with PR #15362; read at Comfy-Org/ComfyUI 679f171b).

Wan Animate 2 is the Wan 2.1 I2V 14B network driven by a raw video instead of Animate's pose
and face encoders: a *pose branch* over the pose video's latents runs through the same
blocks, in lockstep with the generation branch, and feeds each block's keys and values to it
(:mod:`wfrun.sampling.animate2`; the core sampler runs it for this conditioning, and refuses
it by name on a model not shaped as Wan 2.1 I2V 14B).

What WanAnimate2ToVideo attaches to both CONDITIONINGs:

- ``concat_latent_image``: the reference image's latents (its first frame, resized with
  "area", centre crop; black when none is given), then the latents of ``length`` grey (0.5)
  frames with the last ``continue_motion`` frame (one only: Animate 2 continues from one
  frame, where Animate took up to ``continue_motion_max_frames``) at their start;
- ``concat_mask``: one channel at latent size over every latent frame, 0 over the
  reference's and the continued motion's latent frames (known), 1 elsewhere;
- ``clip_vision_output`` when given; ``reference_strength`` when not 1;
- the pose values: ``pose_video_latent`` (the pose video from ``video_frame_offset`` on,
  ``length`` frames, resized with "area", its last frame held to the length),
  ``clip_vision_output_pose`` (``clip_vision_output_pose``, else ``clip_vision_output``),
  ``cross_attn_pose`` (the first entry's tensor of ``positive_pose``, else of
  ``positive``) and ``pose_strength`` when not 1. With a pose window
  (``pose_start_percent`` > 0 or ``pose_end_percent`` < 1) each entry becomes the windowed
  entry carrying the pose values plus plain entries over the rest of the schedule.

The LATENT is zeros of 16 x (reference frames + (length - 1) / 4 + 1) frames at 1/8 size;
``trim_latent`` is the reference's latent frames, ``trim_image`` the pixel frames the
continued motion fills (``4 x its latent frames - 3``, so 1 for its one frame), and
``video_frame_offset`` where the next chunk starts (``offset - continued frames + length``).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.conditioning import check, set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.animate_conditioning import ANIMATE_LATENT_CHANNELS, ANIMATE_STRIDE, _fit, _frames
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import ClipVisionOutput, CoreModel
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images
from wfrun.packs.comfy_core_models.wan_conditioning import _both, _with_clip, latent_channels

#: Pixel frames of ``continue_motion`` Animate 2 continues from (ComfyUI's CONTINUE_MOTION_FRAMES).
CONTINUE_MOTION_FRAMES = 1


def _clip(value: Any, name: str) -> ClipVisionOutput | None:
    if value is not None and not isinstance(value, ClipVisionOutput):
        raise NodeInputError(name, "expected a CLIP_VISION_OUTPUT from CLIPVisionEncode")
    return value


def _pose_window(conditioning: list, values: dict, start: float, end: float) -> list:
    """ComfyUI's windowing of the pose values: the entries with the values over
    ``start..end``, then the plain entries before and after it."""
    parts = set_values(conditioning, {**values, "start_percent": start, "end_percent": end})
    if start > 0.0:
        parts += set_values(conditioning, {"start_percent": 0.0, "end_percent": start})
    if end < 1.0:
        parts += set_values(conditioning, {"start_percent": end, "end_percent": 1.0})
    return parts


@executor("WanAnimate2ToVideo")
def wan_animate2_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: int, height: int,
                          length: int, batch_size: int, video_frame_offset: int, pose_strength: float,
                          pose_start_percent: float, pose_end_percent: float, reference_image_strength: float,
                          reference_image: Any = None, pose_video: Any = None, clip_vision_output: Any = None,
                          positive_pose: Any = None, clip_vision_output_pose: Any = None,
                          continue_motion: Any = None, **_: Any) -> tuple:
    vae = check_vae(vae)
    if latent_channels(vae) != ANIMATE_LATENT_CHANNELS or int(vae.vae.spatial_compression_ratio) != ANIMATE_STRIDE:
        raise NodeInputError("vae", f"a VAE of {latent_channels(vae)} latent channels: Wan Animate 2 takes the "
                             "Wan 2.1 VAE's 16 (ComfyUI's node assumes it)", "load wan_2.1_vae.safetensors")
    start, end = float(pose_start_percent), float(pose_end_percent)
    if start > end:
        raise NodeInputError("pose_start_percent", f"pose_start_percent ({start}) is after pose_end_percent ({end})",
                             "make the start no greater than the end")
    width, height, length, offset = int(width), int(height), int(length), int(video_frame_offset)
    frames = latent_frames(length)
    lat_h, lat_w = height // ANIMATE_STRIDE, width // ANIMATE_STRIDE

    reference = (torch.zeros(1, height, width, 3) if reference_image is None
                 else _frames(reference_image, "reference_image"))
    reference_latent = encode_images(ctx, vae, _fit(reference[:1], width, height)[..., :3])
    trim_latent = reference_latent.shape[2]

    motion_latents = 0
    video = torch.full((length, height, width, 3), 0.5)
    if continue_motion is not None:
        motion = _frames(continue_motion, "continue_motion")[-CONTINUE_MOTION_FRAMES:]
        offset = max(0, offset - motion.shape[0])
        motion = _fit(motion[-length:], width, height)
        video = torch.full((length, height, width, motion.shape[-1]), 0.5)
        video[:motion.shape[0]] = motion
        motion_latents = latent_frames(motion.shape[0])
    concat = torch.cat([reference_latent, encode_images(ctx, vae, video[..., :3])], dim=2)
    mask = torch.ones(1, 1, frames + trim_latent, lat_h, lat_w)
    mask[:, :, :trim_latent + motion_latents] = 0.0
    positive, negative = _both(positive, negative, {"concat_latent_image": concat, "concat_mask": mask})

    clip = _clip(clip_vision_output, "clip_vision_output")
    positive, negative = _with_clip(positive, negative, clip)
    if float(reference_image_strength) != 1.0:
        positive, negative = _both(positive, negative, {"reference_strength": float(reference_image_strength)})

    pose_values: dict[str, Any] = {}
    if pose_video is not None:
        pose = _frames(pose_video, "pose_video")
        if pose.shape[0] <= offset:
            raise NodeInputError("video_frame_offset", f"pose_video has {pose.shape[0]} frames but video_frame_offset "
                                 f"is {offset}: nothing left to read", "lower video_frame_offset")
        pose = _fit(pose[offset:][:length], width, height)
        if pose.shape[0] < length:  # the last frame held to the length
            pose = torch.cat([pose, pose[-1:].expand(length - pose.shape[0], -1, -1, -1)], dim=0)
        pose_values["pose_video_latent"] = encode_images(ctx, vae, pose[..., :3])
    pose_clip = _clip(clip_vision_output_pose, "clip_vision_output_pose")
    pose_clip = pose_clip if pose_clip is not None else clip
    if pose_clip is not None:
        pose_values["clip_vision_output_pose"] = pose_clip
    if positive_pose is not None:
        check(positive_pose, "positive_pose")
    pose_text = positive_pose if positive_pose is not None else positive
    if len(pose_text) > 0:
        pose_values["cross_attn_pose"] = pose_text[0][0]
    if float(pose_strength) != 1.0:
        pose_values["pose_strength"] = float(pose_strength)
    if start > 0.0 or end < 1.0:
        positive, negative = _pose_window(positive, pose_values, start, end), _pose_window(negative, pose_values,
                                                                                           start, end)
    else:
        positive, negative = _both(positive, negative, pose_values)

    latent = torch.zeros(int(batch_size), ANIMATE_LATENT_CHANNELS, frames + trim_latent, lat_h, lat_w)
    return (positive, negative, {"samples": latent}, trim_latent, max(0, motion_latents * 4 - 3), offset + length)


#: Where WanAnimate2Cache may keep the pose branch's activations, and in what precision.
CACHE_DEVICES = ("cpu", "gpu")
CACHE_DTYPES = ("default", "int8", "int4")


@executor("WanAnimate2Cache")
def wan_animate2_cache(ctx: ExecContext, model: Any, device: Any, dtype: Any, **_: Any) -> tuple:
    """The model with its Animate 2 pose-branch cache settings recorded. In ComfyUI the cache
    keeps each block's pose-branch input between sampling steps (the pose branch does not
    depend on the noisy latent), so the branch runs once per window; ``int8``/``int4``
    storage rounds those inputs. wfrun runs the branch at every call instead (the result of
    the ``default`` precision; a speed difference, and the int8/int4 rounding is not
    reproduced), so the settings are only recorded."""
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", "expected a MODEL from a core loader (UNETLoader, LoraLoaderModelOnly, ...)")
    for name, value, options in (("device", device, CACHE_DEVICES), ("dtype", dtype, CACHE_DTYPES)):
        if value not in options:
            raise NodeInputError(name, f"{name} {value!r} is not one of {', '.join(options)}")
    return (model.patched(animate2_cache=(device, dtype)),)
