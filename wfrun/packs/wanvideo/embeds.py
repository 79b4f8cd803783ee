"""Image-embeds nodes: WanVideoEmptyEmbeds (T2V), WanVideoControlEmbeds and
WanVideoAddControlEmbeds (Fun control), WanVideoImageToVideoEncode (I2V, end frame, FLF2V,
Fun-InP).

WanVideoImageToVideoEncode follows the pack (nodes.py at 2025-07) step by step, because its
shapes decide how many frames come out:

- ``num_frames`` N is rounded down to 4n+1. With a start *and* an end image on a model that
  is not Fun/FLF2V (``fun_or_fl2v_model`` false), the pack adds one frame: the end frame is
  encoded on its own (see ``vae.encode_video(end_=True)``), giving (N-1)/4 + 2 latent frames;
  the decoder decodes that last latent alone and drops the extra frame, so N frames come out.
- The mask has 4 channels: the first pixel frame's mask repeated 4 times (and the end
  frame's, in that mode) then grouped by 4 into latent frames, at the VAE's latent size
  (the pack's ``H // vae.upsampling_factor``: /8, or /16 with the Wan 2.2 VAE, whose 48
  channels make the 52 the Wan 2.2 Fun InP 5B model takes beside its noise).
- The VAE encodes start image + zero frames (+ end image), as in the official I2V code.
- ``y`` = mask (4 channels) + latents (16, or 48) = 20 channels (52), except with ``control_embeds``
  (Fun control): then only the 16 latent channels, with the non-reference latents zeroed;
  the 20 channels are kept beside them (``masked_image_embeds``) for a Fun-Camera model that
  takes the mask (Wan 2.2 Fun Camera A14B, 36 input channels), which the pack's later
  sampler (2025-08 on: the encode keeps mask and latents apart) gives both, unzeroed.

diffusers' ``WanImageToVideoPipeline(last_image=...)`` differs: it never adds the extra
end frame (it always works like ``fun_or_fl2v_model=True``) and encodes all frames in one
VAE call. wfrun follows the pack so saved workflows give the frames they gave in ComfyUI.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models import placement
from wfrun.packs.wanvideo.image_ops import common_upscale
from wfrun.packs.wanvideo.types import ClipEmbeds, ControlEmbeds, ImageEmbeds, PhantomArgs, WanVAE
from wfrun.packs.wanvideo.vae import add_noise_to_reference, encode_video, set_tiling

VAE_STRIDE = (4, 8, 8)
PATCH_SIZE = (1, 2, 2)


@executor("WanVideoEmptyEmbeds")
def wanvideo_empty_embeds(ctx: ExecContext, width: int, height: int, num_frames: int,
                          control_embeds: ImageEmbeds | None = None, extra_latents: Any = None, **_: Any) -> tuple:
    """The video's shape at the Wan 2.1 VAE's 16 channels and /8, whatever the model, as the
    pack: its sampler draws a Wan 2.2 VAE model's (TI2V-5B) 48-channel noise at half that
    size. ``extra_latents`` (WanVideoEncode's LATENT) replace the first latent frames: the
    Pusa model's start frames, and the 5B's start image — held with timestep 0 while the
    other frames are denoised (``sampling.image_latent``). diffusers' Wan 2.2 pipelines do
    the same for TI2V-5B (``expand_timesteps``) inside one pipeline call."""
    target_shape = (16, (num_frames - 1) // VAE_STRIDE[0] + 1, height // VAE_STRIDE[1], width // VAE_STRIDE[2])
    control = control_embeds.control_embeds if isinstance(control_embeds, ImageEmbeds) else None
    return (ImageEmbeds(num_frames=num_frames, target_shape=target_shape, control_embeds=control,
                        extra_latents=extra_latents),)


@executor("WanVideoControlEmbeds")
def wanvideo_control_embeds(ctx: ExecContext, latents: dict, start_percent: float, end_percent: float,
                            fun_ref_image: dict | None = None, **_: Any) -> tuple:
    if not isinstance(latents, dict) or "samples" not in latents:
        raise NodeInputError("latents", "expected a LATENT (from WanVideoEncode)")
    samples = latents["samples"].squeeze(0)
    _c, t, h, w = samples.shape
    num_frames = (t - 1) * 4 + 1
    seq_len = math.ceil((h * w) / 4 * ((num_frames - 1) // 4 + 1))
    ref = fun_ref_image["samples"][:, :, 0] if fun_ref_image is not None else None
    control = ControlEmbeds(control_images=samples, start_percent=float(start_percent),
                            end_percent=float(end_percent), fun_ref_image=ref)
    return (ImageEmbeds(num_frames=num_frames, target_shape=tuple(samples.shape), max_seq_len=seq_len,
                        control_embeds=control),)


@executor("WanVideoAddControlEmbeds")
def wanvideo_add_control_embeds(ctx: ExecContext, embeds: ImageEmbeds, start_percent: float, end_percent: float,
                                latents: dict | None = None, fun_ref_image: dict | None = None, **_: Any) -> tuple:
    """Fun control on embeds made elsewhere (the pack from 2025-08-14, ``nodes.py``): the
    embeds come back unchanged but for their ``control_embeds``, which this replaces with
    the control latents (``latents``, optional: without them the model's control channels
    get zeros at every step, a reference-only run), the step window and the Fun reference
    image's first latent frame.

    What the sampler then does is the pack's (``sampling.loop``): on Wan 2.2 Fun Control
    (52 input channels) image embeds from WanVideoImageToVideoEncode keep their mask and
    latents (20 channels) after the control's 16; empty embeds get zeros there; the
    reference is read with empty embeds only (the pack ignores it on image embeds); on
    Wan 2.1 Fun Control (48) image embeds lose their mask and their latents after the
    first frame are zeroed. diffusers has no Wan Fun pipeline to differ from."""
    if not isinstance(embeds, ImageEmbeds):
        raise NodeInputError("embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(embeds).__name__}",
                             "connect an embeds node (WanVideoImageToVideoEncode, WanVideoEmptyEmbeds)")
    samples = None
    if latents is not None:
        if not isinstance(latents, dict) or not isinstance(latents.get("samples"), torch.Tensor):
            raise NodeInputError("latents", "expected a LATENT (from WanVideoEncode)")
        samples = latents["samples"].squeeze(0)
        if samples.ndim != 4:
            raise NodeInputError("latents", f"latents of shape {tuple(latents['samples'].shape)}",
                                 "expected one video's latents [1, C, T, H, W] (from WanVideoEncode)")
    ref = None
    if fun_ref_image is not None:
        if not isinstance(fun_ref_image, dict) or not isinstance(fun_ref_image.get("samples"), torch.Tensor) \
                or fun_ref_image["samples"].ndim != 5:
            raise NodeInputError("fun_ref_image", "expected a LATENT of a video [B, C, T, H, W] (from WanVideoEncode)")
        ref = fun_ref_image["samples"][:, :, 0]
    control = ControlEmbeds(control_images=samples, start_percent=float(start_percent),
                            end_percent=float(end_percent), fun_ref_image=ref)
    return (dataclasses.replace(embeds, control_embeds=control),)


@executor("WanVideoPhantomEmbeds")
def wanvideo_phantom_embeds(ctx: ExecContext, num_frames: int, phantom_cfg_scale: Any,
                            phantom_start_percent: float, phantom_end_percent: float,
                            phantom_latent_1: dict | None = None, phantom_latent_2: dict | None = None,
                            phantom_latent_3: dict | None = None, phantom_latent_4: dict | None = None,
                            vace_embeds: Any = None, **_: Any) -> tuple:
    """Phantom (subject to video): the reference images' latents, joined along time, follow
    the video's latent frames; the video's size is theirs (as the pack: nodes.py, 2025-06)."""
    if vace_embeds is not None:
        raise NodeInputError("vace_embeds", "VACE is not supported by wfrun yet", "disconnect vace_embeds")
    given = [(f"phantom_latent_{i}", lat) for i, lat in enumerate(
        (phantom_latent_1, phantom_latent_2, phantom_latent_3, phantom_latent_4), start=1) if lat is not None]
    if not given:
        raise NodeInputError("phantom_latent_1", "no reference latents", "connect WanVideoEncode of a reference image")
    parts = []
    for name, latent in given:
        if not isinstance(latent, dict) or "samples" not in latent:
            raise NodeInputError(name, "expected a LATENT (from WanVideoEncode)")
        samples = latent["samples"].squeeze(0)
        if parts and samples.shape[-2:] != parts[0].shape[-2:]:
            raise NodeInputError(name, f"latent size {tuple(samples.shape[-2:])} differs from phantom_latent_1's "
                                 f"{tuple(parts[0].shape[-2:])}", "resize the reference images to the same size")
        parts.append(samples)
    samples = torch.cat(parts, dim=1)
    _c, t, h, w = samples.shape
    frames = (int(num_frames) - 1) // 4 + 1 + t
    cfg = tuple(float(c) for c in phantom_cfg_scale) if isinstance(phantom_cfg_scale, (list, tuple)) \
        else float(phantom_cfg_scale)
    return (ImageEmbeds(num_frames=int(num_frames), target_shape=(16, frames, h, w),
                        max_seq_len=math.ceil(h * w / 4 * frames),
                        phantom=PhantomArgs(samples, cfg, float(phantom_start_percent),
                                            float(phantom_end_percent))),)


def _to_video(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """IMAGE [F, H, W, 3] → [3, F, height, width] in -1..1, resized as the pack (lanczos)."""
    resized = common_upscale(image.movedim(-1, 1).float(), width, height, "lanczos").movedim(0, 1)
    return resized * 2 - 1


@executor("WanVideoImageToVideoEncode")
@torch.no_grad()
def wanvideo_image_to_video_encode(
        ctx: ExecContext, vae: WanVAE, width: int, height: int, num_frames: int,
        noise_aug_strength: float, start_latent_strength: float, end_latent_strength: float,
        force_offload: bool, *, clip_embeds: ClipEmbeds | None = None, start_image: torch.Tensor | None = None,
        end_image: torch.Tensor | None = None, control_embeds: ImageEmbeds | None = None,
        fun_or_fl2v_model: bool, temporal_mask: torch.Tensor | None = None, extra_latents: dict | None = None,
        tiled_vae: bool, add_cond_latents: Any = None, **_: Any) -> tuple:
    if add_cond_latents is not None:
        raise NodeInputError("add_cond_latents", "additional cond latents (WIP in the pack) are not supported")
    if temporal_mask is not None and start_image is None:
        raise NodeInputError("temporal_mask", "a temporal mask needs a start_image (the pack masks its frames)")
    for name, value in (("width", width), ("height", height)):
        if value % 16 or value < 16:
            raise NodeInputError(name, f"{value} is not a positive multiple of 16",
                                 "the Wan VAE downsamples by 8 and the transformer patches by 2")
    H, W = int(height), int(width)
    ratio = int(vae.vae.spatial_compression_ratio)  # the pack's vae.upsampling_factor: 8, or 16 (Wan 2.2 VAE)
    lat_h, lat_w = H // ratio, W // ratio
    num_frames = ((int(num_frames) - 1) // 4) * 4 + 1
    two_refs = start_image is not None and end_image is not None
    end_mode = end_image is not None and not fun_or_fl2v_model
    base_frames = num_frames + (1 if two_refs and not fun_or_fl2v_model else 0)
    device = ctx.device

    if temporal_mask is None:
        mask = torch.zeros(1, base_frames, lat_h, lat_w, device=device)
        if start_image is not None:
            mask[:, 0:start_image.shape[0]] = 1
        if end_image is not None:
            mask[:, -end_image.shape[0]:] = 1
    else:
        mask = common_upscale(temporal_mask.float().unsqueeze(1).to(device), lat_w, lat_h, "nearest").squeeze(1)
        if mask.shape[0] > base_frames:
            mask = mask[:base_frames]
        elif mask.shape[0] < base_frames:
            mask = torch.cat([mask, torch.zeros(base_frames - mask.shape[0], lat_h, lat_w, device=device)])
        mask = mask.unsqueeze(0)
    start_rep = torch.repeat_interleave(mask[:, 0:1], repeats=4, dim=1)
    if end_mode:
        end_rep = torch.repeat_interleave(mask[:, -1:], repeats=4, dim=1)
        mask = torch.cat([start_rep, mask[:, 1:-1], end_rep], dim=1)
    else:
        mask = torch.cat([start_rep, mask[:, 1:]], dim=1)
    mask = mask.view(1, mask.shape[1] // 4, 4, lat_h, lat_w).movedim(1, 2)[0]  # [4, T, h, w]

    start = end = None
    if start_image is not None:
        start = _to_video(start_image, W, H)
        if noise_aug_strength > 0.0:
            start = add_noise_to_reference(start, noise_aug_strength)
    if end_image is not None:
        end = _to_video(end_image, W, H)
        if noise_aug_strength > 0.0:
            end = add_noise_to_reference(end, noise_aug_strength)

    if temporal_mask is None:
        if start is not None and end is None:
            video = torch.cat([start, torch.zeros(3, num_frames - start.shape[1], H, W)], dim=1)
        elif start is None and end is not None:
            video = torch.cat([torch.zeros(3, num_frames - end.shape[1], H, W), end], dim=1)
        elif start is None and end is None:
            video = torch.zeros(3, num_frames, H, W)
        else:
            gap = num_frames - (start.shape[1] + end.shape[1]) if fun_or_fl2v_model else num_frames - 1
            video = torch.cat([start, torch.zeros(3, gap, H, W), end], dim=1)
    else:
        frame_mask = common_upscale(temporal_mask.float().unsqueeze(1), W, H, "nearest").squeeze(1)
        video = start[:, :num_frames] * frame_mask[:num_frames].unsqueeze(0)

    placement.onload(vae.vae, device)
    set_tiling(vae.vae, bool(tiled_vae))
    y = encode_video(vae, video, device, end_=end_mode, ctx=ctx)
    has_ref = False
    if extra_latents is not None:
        samples = extra_latents["samples"].squeeze(0).to(y)
        y = torch.cat([samples, y], dim=1)
        mask = torch.cat([torch.ones_like(mask[:, 0:samples.shape[1]]), mask], dim=1)
        num_frames += samples.shape[1] * 4
        has_ref = True
    y[:, :1] *= start_latent_strength
    y[:, -1:] *= end_latent_strength
    control = control_embeds.control_embeds if isinstance(control_embeds, ImageEmbeds) else None
    with_mask = torch.cat([mask.to(y), y])
    if control is None:
        y = with_mask
    elif end_image is None:
        y[:, 1:] = 0
    elif start_image is None:
        y[:, -1:] = 0
    else:
        y[:, 1:-1] = 0
    if force_offload:
        placement.offload(vae.vae, ctx.offload_device)

    patches_per_frame = lat_h * lat_w // (PATCH_SIZE[1] * PATCH_SIZE[2])
    frames_per_stride = (num_frames - 1) // 4 + (2 if end_mode else 1)
    return (ImageEmbeds(
        num_frames=num_frames, image_embeds=y.cpu(), lat_h=lat_h, lat_w=lat_w,
        max_seq_len=frames_per_stride * patches_per_frame,
        clip_context=clip_embeds.clip_embeds if clip_embeds is not None else None,
        negative_clip_context=clip_embeds.negative_clip_embeds if clip_embeds is not None else None,
        control_embeds=control, end_image=end.cpu() if end is not None else None,
        fun_or_fl2v_model=bool(fun_or_fl2v_model), has_ref=has_ref,
        masked_image_embeds=with_mask.cpu() if control is not None else None),)
