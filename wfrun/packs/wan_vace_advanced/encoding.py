"""The pack's VACE + Phantom conditioning (its ``encode_vace_advanced`` with one VACE input,
as WanVacePhantomSimpleV2 calls it), written for wfrun.

Phantom subjects and VACE share the time axis: the model sees the video's latent frames
followed by one latent frame per subject image (``time_dim_concat``), so the VACE control
video is made ``length + 4·P`` frames long (P subject images) to cover them too. Its frames
past the control video are set to 0 and their mask to 1 (the pack's ``phantom_control_value``
and ``phantom_mask_value`` defaults), and the subjects' latent frames get VACE strength 0
(``phantom_vace_strength``'s default: VACE leaves the subjects alone). References go in
front, as in core WanVaceToVideo, with ``vace_ref_strength``. Strengths are stored per
latent frame (``[[s, …] per batch item]``); wfrun's sampler applies them frame by frame
(:func:`wfrun.packs.comfy_core_models.model_input.vace_strength`), which is what the pack's
model patch does in ComfyUI.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.media.image import common_upscale, upscale_image
from wfrun.models.families import WAN21
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor

GREY = 0.5
PHANTOM_CONTROL_VALUE = 0.0
PHANTOM_MASK_VALUE = 1.0
PHANTOM_VACE_STRENGTH = 0.0
STRIDE = 8


def latent_frames(length: int) -> int:
    return (int(length) - 1) // 4 + 1


def encode(ctx: ExecContext, vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Raw latents of an IMAGE batch taken as one video (ComfyUI's ``vae.encode``), through
    wfrun's core VAEEncode (packs do not import each other)."""
    fn = builtin_executor("VAEEncode", "vae")
    (latent,) = fn(ctx, pixels=pixels[..., :3], vae=vae)
    return latent["samples"]


def image_input(name: str, value: Any, channels: tuple[int, ...] = (3, 4)) -> torch.Tensor | None:
    if value is None:
        return None
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] not in channels \
            or value.shape[0] == 0:
        raise NodeInputError(name, f"expected an IMAGE batch [frames, height, width, 3], got "
                             f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
    return value.float()


def mask_input(value: Any) -> torch.Tensor | None:
    if value is None:
        return None
    if not isinstance(value, torch.Tensor) or value.ndim not in (3, 4) or value.shape[0] == 0:
        raise NodeInputError("control_masks", "expected a MASK [frames, height, width]")
    return value.float()


def frame_strengths(strength: float, ref_strength: float, ref_frames: int, frames: int, phantoms: int) -> list[float]:
    """One strength per VACE latent frame: the references', the video's, then the subjects' 0."""
    values = [float(ref_strength)] * ref_frames + [float(strength)] * frames
    for i in range(1, phantoms + 1):
        values[-i] = PHANTOM_VACE_STRENGTH
    return values


def vace_inputs(ctx: ExecContext, vae: Any, width: int, height: int, length: int, batch_size: int,
                control_video: torch.Tensor | None, control_masks: torch.Tensor | None,
                reference: torch.Tensor | None, strength: float, ref_strength: float,
                phantoms: int) -> tuple[torch.Tensor, torch.Tensor, list, int]:
    """``(vace_frames [1, 32, R+T'+P, h, w], vace_mask [1, 64, …], strengths, R)`` (the pack's
    ``_create_vace_lists``)."""
    vace_length = length + phantoms * 4
    vace_latent = latent_frames(vace_length)
    video_frames = length if control_video is None else control_video.shape[0]
    if control_video is not None:
        video = upscale_image(control_video, width, height, "bilinear", "center")
        if video.shape[0] < vace_length:
            video = F.pad(video, (0, 0, 0, 0, 0, 0, 0, vace_length - video.shape[0]), value=GREY)
    else:
        video = torch.full((vace_length, height, width, 3), GREY)
    refs = None
    if reference is not None:
        refs = encode(ctx, vae, upscale_image(reference, width, height, "bilinear", "center"))
        refs = torch.cat([refs, WAN21.process_out(torch.zeros_like(refs))], dim=1)
    ref_frames = 0 if refs is None else refs.shape[2]
    strengths = [frame_strengths(strength, ref_strength, ref_frames, vace_latent, phantoms)] * int(batch_size)
    mask_frames = length if control_masks is None else control_masks.shape[0]
    if control_masks is not None:
        m = control_masks.unsqueeze(1) if control_masks.ndim == 3 else control_masks
        mask = common_upscale(m, width, height, "bilinear", "center").movedim(1, -1)
        if mask.shape[0] < vace_length:
            mask = F.pad(mask, (0, 0, 0, 0, 0, 0, 0, vace_length - mask.shape[0]), value=1.0)
    else:
        mask = torch.ones((vace_length, height, width, 1))
    if video.shape[0] != vace_length or mask.shape[0] != vace_length:
        raise NodeInputError("control_video" if video.shape[0] != vace_length else "control_masks",
                             f"{max(video.shape[0], mask.shape[0])} frames where the VACE video has {vace_length} "
                             f"(length {length} + 4 per Phantom image)", "give at most that many frames")
    if phantoms:
        video[video_frames:] = PHANTOM_CONTROL_VALUE
        mask[mask_frames:] = PHANTOM_MASK_VALUE
    centred = video - GREY
    inactive = encode(ctx, vae, centred * (1 - mask) + GREY)
    reactive = encode(ctx, vae, centred * mask + GREY)
    frames = torch.cat([inactive, reactive], dim=1)
    if refs is not None:
        frames = torch.cat([refs, frames], dim=2)
    h8, w8 = height // STRIDE, width // STRIDE
    folded = mask.reshape(vace_length, h8, STRIDE, w8, STRIDE).permute(2, 4, 0, 1, 3)
    folded = folded.reshape(STRIDE * STRIDE, vace_length, h8, w8)
    folded = F.interpolate(folded.unsqueeze(0), size=(vace_latent, h8, w8), mode="nearest-exact").squeeze(0)
    if ref_frames:
        folded = torch.cat([torch.zeros_like(folded[:, :ref_frames]), folded], dim=1)
    return frames, folded.unsqueeze(0), strengths, ref_frames


def phantom_latents(ctx: ExecContext, vae: Any, images: torch.Tensor, width: int, height: int,
                    method: str) -> torch.Tensor:
    """Each subject image resized (centre crop) and encoded on its own: one latent frame each."""
    scaled = upscale_image(images, width, height, method, "center")
    return torch.cat([encode(ctx, vae, frame.unsqueeze(0)) for frame in scaled], dim=2)


def conditionings(positive: Any, negative: Any, values: dict, subjects: torch.Tensor | None) -> tuple:
    """``(positive, negative, neg_phant_img)``: VACE appended to both; with subjects, both
    get them and ``neg_phant_img`` (the negative for the pack's subject-free negative pass)
    gets latent-mean frames in their place."""
    positive = set_values(positive, values, append=True, input_name="positive")
    negative = set_values(negative, values, append=True, input_name="negative")
    if subjects is None:
        return positive, negative, negative
    positive = set_values(positive, {"time_dim_concat": subjects}, input_name="positive")
    negative = set_values(negative, {"time_dim_concat": subjects}, input_name="negative")
    blank = WAN21.process_out(torch.zeros_like(subjects))
    return positive, negative, set_values(negative, {"time_dim_concat": blank}, input_name="negative")
