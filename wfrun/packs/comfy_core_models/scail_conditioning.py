"""ComfyUI's WanSCAILToVideo (``comfy_extras/nodes_scail.py``, its multi-reference version of
2026-06): the conditioning of SCAIL / SCAIL-2 character animation and replacement, in chunks
that continue one another.

What it attaches to both CONDITIONINGs:

- ``ref_mask_flag``: ``not replacement_mode`` (always set);
- ``reference_latents`` (appended): each reference image resized to the output size
  (bicubic, centre crop) and encoded alone (one latent frame each). In replacement mode
  with a ``reference_image_mask``, each reference is first blacked out where its mask
  (resized nearest-exact, the last mask standing for references beyond the masks) has no
  channel above 0.1 — the character kept on black;
- ``clip_vision_output`` when given;
- ``pose_video_latent``: the pose video from ``video_frame_offset`` on, cut with the mask
  video to the shorter of the two and of ``length``, rounded down to 4k + 1 frames, resized
  to half the output size ("area", centre crop), encoded and times ``pose_strength`` — only
  from ``pose_start`` to ``pose_end`` (the entry split around that range, as ComfyUI's
  ``conditioning_set_values_with_timestep_range``);
- ``driving_mask_28ch``: the coloured mask video cut the same way, resized to half size
  ("area"), decoded to 28 channels (:func:`.scail_masks.mask_to_28ch`);
- ``ref_mask_28ch`` (with a reference image and its mask): the masks resized to the output
  size (nearest-exact), decoded: the extra references' masks, the first reference's, then
  zeros for every latent frame of the output, joined along the frames.

``previous_frames`` (a continued chunk): its last ``previous_frame_count`` frames take the
offset back by their count, are resized to the output size (bicubic) and encoded into the
latent's first frames, which a ``noise_mask`` of 0 keeps. The LATENT is otherwise zeros,
``16 x latent frames x height/8 x width/8`` (ComfyUI assumes the Wan 2.1 VAE; wfrun refuses
another by name rather than making a latent that fits nothing); the INT is
``offset + length``, where the next chunk starts.

Not in wfrun yet: a SCAIL model. The sampler refuses these conditionings by name
(:mod:`.model_input`) rather than sample a plain Wan model that would ignore them. What the
model side has to do, from ComfyUI's ``WAN21_SCAIL2`` (``comfy/model_base.py``): the
reference latents, normalised, stacked along the frames as ``[extra refs…, primary]``, each
with 4 channels of ones (20 channels); the pose latents normalised plus 4 channels of ones;
``driving_mask_28ch`` and ``ref_mask_28ch`` with channels and frames swapped
(``[1, 28, T, h, w]``); ``ref_mask_flag`` as a constant; 4 input channels after the noise
(20 in all) holding ``1 - noise_mask`` (the anchored frames); and the anchored latents held
as given at every sigma (its ``scale_latent_inpaint``), not re-noised. The model itself
(``SCAIL2WanModel`` in ``comfy/ldm/wan/model.py``: pose and identity-mask token embeddings,
their RoPE) was not available to read when this was written.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.nodes.conditioning import set_values_in_range
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.scail_masks import mask_to_28ch
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images, spatial_ratio
from wfrun.packs.comfy_core_models.wan_conditioning import _both, _with_clip, latent_channels

#: Latent channels and pixels per latent of the VAE ComfyUI's node assumes (Wan 2.1's).
SCAIL_LATENT_CHANNELS = 16
SCAIL_STRIDE = 8
#: A reference pixel counts as the character where its mask has a channel above this.
CHARACTER_ON = 0.1


def _images(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0:
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]")
    return value.float()


def _resize(images: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    return common_upscale(images.movedim(-1, 1), width, height, method, "center").movedim(1, -1)


def _from_offset(video: torch.Tensor | None, offset: int) -> torch.Tensor | None:
    return None if video is None or video.shape[0] <= offset else video[offset:]


@executor("WanSCAILToVideo")
def wan_scail_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int, height: int,
                       length: int, batch_size: int, pose_strength: float, pose_start: float, pose_end: float,
                       video_frame_offset: int, previous_frame_count: int, replacement_mode: bool,
                       pose_video: Any = None, pose_video_mask: Any = None, reference_image: Any = None,
                       reference_image_mask: Any = None, clip_vision_output: Any = None, previous_frames: Any = None,
                       **_: Any) -> tuple:
    vae = check_vae(vae)
    if latent_channels(vae) != SCAIL_LATENT_CHANNELS or spatial_ratio(vae) != SCAIL_STRIDE:
        raise NodeInputError("vae", f"a VAE of {latent_channels(vae)} latent channels: SCAIL takes the Wan 2.1 VAE's "
                             "16 (ComfyUI's node assumes it)", "load wan_2.1_vae.safetensors")
    width, height, length, offset = int(width), int(height), int(length), int(video_frame_offset)
    replacement = bool(replacement_mode)
    latent = torch.zeros(int(batch_size), SCAIL_LATENT_CHANNELS, latent_frames(length), height // SCAIL_STRIDE,
                         width // SCAIL_STRIDE)
    noise_mask = None
    positive, negative = _both(positive, negative, {"ref_mask_flag": not replacement})

    previous = None
    if previous_frames is not None and not (isinstance(previous_frames, torch.Tensor) and previous_frames.shape[0] == 0):
        previous = _images(previous_frames, "previous_frames")[-int(previous_frame_count):]
        offset = max(0, offset - previous.shape[0])

    references = None if reference_image is None else _images(reference_image, "reference_image")
    ref_masks = None if reference_image_mask is None else _images(reference_image_mask, "reference_image_mask")
    if references is not None:
        refs = _resize(references, width, height, "bicubic")
        if replacement and ref_masks is not None:
            matte = _resize(ref_masks, width, height, "nearest-exact")
            matte = matte[[min(i, matte.shape[0] - 1) for i in range(refs.shape[0])]]
            refs = refs * (matte[..., :3].amax(dim=-1, keepdim=True) > CHARACTER_ON).to(refs.dtype)
        latents = [encode_images(ctx, vae, refs[i:i + 1, ..., :3]) for i in range(refs.shape[0])]
        positive, negative = _both(positive, negative, {"reference_latents": latents}, append=True)

    positive, negative = _with_clip(positive, negative, clip_vision_output)

    pose = _from_offset(None if pose_video is None else _images(pose_video, "pose_video"), offset)
    mask_video = _from_offset(None if pose_video_mask is None else _images(pose_video_mask, "pose_video_mask"), offset)
    lengths = [v.shape[0] for v in (pose, mask_video) if v is not None]
    if lengths:
        kept = ((min(min(lengths), length) - 1) // 4) * 4 + 1
        pose = None if pose is None else pose[:kept]
        mask_video = None if mask_video is None else mask_video[:kept]

    if pose is not None:
        small = _resize(pose, width // 2, height // 2, "area")
        pose_latent = encode_images(ctx, vae, small[..., :3]) * float(pose_strength)
        values = {"pose_video_latent": pose_latent}
        positive = set_values_in_range(positive, values, float(pose_start), float(pose_end), input_name="positive")
        negative = set_values_in_range(negative, values, float(pose_start), float(pose_end), input_name="negative")

    if mask_video is not None:
        driving = mask_to_28ch(_resize(mask_video, width // 2, height // 2, "area"))
        positive, negative = _both(positive, negative, {"driving_mask_28ch": driving})

    if ref_masks is not None and references is not None:
        resized = _resize(ref_masks, width, height, "nearest-exact")
        extra = [mask_to_28ch(resized[min(i, resized.shape[0] - 1)][None]) for i in range(1, references.shape[0])]
        first = mask_to_28ch(resized[:1])
        zeros = torch.zeros(1, latent.shape[2], 28, *first.shape[-2:])
        positive, negative = _both(positive, negative, {"ref_mask_28ch": torch.cat(extra + [first, zeros], dim=1)})

    if previous is not None:
        prev_latent = encode_images(ctx, vae, _resize(previous, width, height, "bicubic")[..., :3])
        kept_latents = min(prev_latent.shape[2], latent.shape[2])
        latent[:, :, :kept_latents] = prev_latent[:, :, :kept_latents]
        noise_mask = torch.ones(1, 1, latent.shape[2], latent.shape[-2], latent.shape[-1])
        noise_mask[:, :, :kept_latents] = 0.0

    out = {"samples": latent}
    if noise_mask is not None:
        out["noise_mask"] = noise_mask
    return (positive, negative, out, offset + length)
