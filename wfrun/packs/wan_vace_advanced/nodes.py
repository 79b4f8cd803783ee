"""WanVacePhantomSimpleV2 (and VaceAdvancedModelPatch): VACE control (video, masks, reference) and Phantom subjects in one
conditioning, with the model patch that lets them run together.

Outputs, as the pack's: the model, positive and negative with the VACE inputs appended (and
the subjects' latents as ``time_dim_concat``), ``neg_phant_img`` (the negative with
latent-mean frames for the subjects: combined with the negative it gives the pack's
subject-free negative pass), the empty latent (reference frames in front, subjects not:
the model adds them for each call) or ``latent_in`` lined up with it, and ``trim_latent``
(reference latent frames for TrimVideoLatent).

Differences from the pack:
- The MODEL comes back unchanged. The pack wraps a VACE model so that it applies the
  per-frame strengths and lets a VACE context cover the Phantom frames; wfrun's sampler
  does both for every Wan model (:mod:`wfrun.packs.comfy_core_models.model_input`), so
  there is nothing to patch. The patch's fallback for a VACE context shorter than the
  video (extra grey frames through the patch embedding) is not reproduced: this node
  always makes the context as long as the video plus subjects, and a mismatch is refused.
- ``print`` of the strength lists is left out; a control video or mask longer than
  ``length + 4·P`` frames is refused by name where the pack fails on a shape mismatch.
- The behaviour follows the saved release (``properties.ver``, :mod:`.versions`): before
  7f287d8 width and height are never taken from ``latent_in``; before 185817f subject
  images are resized bilinear (later lanczos); before 94a3bfd a noise mask is not padded.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_version
from wfrun.packs.wan_vace_advanced import versions
from wfrun.packs.wan_vace_advanced.encoding import (conditionings, image_input, latent_frames, mask_input,
                                                     phantom_latents, vace_inputs)
from wfrun.packs.wan_vace_advanced.latent_in import incoming

import torch


@executor("WanVacePhantomSimpleV2")
def wan_vace_phantom_simple_v2(ctx: ExecContext, model: Any, positive: Any, negative: Any, vae: Any, width: int,
                               height: int, length: int, batch_size: int, vace_strength: float,
                               vace_ref_strength: float, latent_in: Any = None, control_video: Any = None,
                               control_masks: Any = None, vace_reference: Any = None, phantom_images: Any = None,
                               **_: Any) -> tuple:
    ver = saved_version(ctx.workflow_json, ctx.node_id)
    width, height, length, batch_size = int(width), int(height), int(length), int(batch_size)
    samples = latent_in.get("samples") if isinstance(latent_in, dict) else None
    if versions.has(ver, versions.LATENT_SIZE) and isinstance(samples, torch.Tensor) and samples.ndim >= 5:
        width, height = int(samples.shape[-1]) * 8, int(samples.shape[-2]) * 8
    if width % 8 or height % 8 or width <= 0 or height <= 0:
        raise NodeInputError("width", f"{width}x{height} is not a multiple of 8", "VACE folds the mask on an 8x8 grid")
    if length < 1 or batch_size < 1:
        raise NodeInputError("length" if length < 1 else "batch_size", "must be at least 1")
    control_video = image_input("control_video", control_video)
    control_masks = mask_input(control_masks)
    vace_reference = image_input("vace_reference", vace_reference)
    phantom_images = image_input("phantom_images", phantom_images)
    phantoms = 0 if phantom_images is None else phantom_images.shape[0]
    frames, mask, strengths, trim = vace_inputs(ctx, vae, width, height, length, batch_size, control_video,
                                                control_masks, vace_reference, float(vace_strength),
                                                float(vace_ref_strength), phantoms)
    subjects = None
    if phantom_images is not None:
        method = "lanczos" if versions.has(ver, versions.LANCZOS) else "bilinear"
        subjects = phantom_latents(ctx, vae, phantom_images, width, height, method)
    values = {"vace_frames": [frames], "vace_mask": [mask], "vace_strength": [strengths]}
    positive, negative, neg_phant_img = conditionings(positive, negative, values, subjects)
    latent = torch.zeros(batch_size, 16, trim + latent_frames(length), height // 8, width // 8)
    latent_out = incoming(latent_in, {"samples": latent}, width, height, length, vace_reference is not None,
                          versions.has(ver, versions.NOISE_MASK))
    return (model, positive, negative, neg_phant_img, latent_out, trim)


@executor("VaceAdvancedModelPatch")
def vace_advanced_model_patch(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    """The model unchanged. In ComfyUI this wraps a VACE model so that it applies per-frame
    VACE strengths and lets Phantom frames follow the video (and, from 2025-12-09, cuts
    them to context windows); wfrun's sampler does all of it for every Wan model, except
    per-frame strengths that differ under context windows, which it refuses by name. The
    first release's ``enable`` off removed the wrap instead; wfrun has none to remove."""
    return (model,)

