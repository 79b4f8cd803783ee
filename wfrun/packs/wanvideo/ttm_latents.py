"""The wrapper's ``WanVideoAddTTMLatents`` (``nodes.py``, 2025-11-16 on): Time-to-Move's
reference latents (WanVideoEncode of the motion video) and motion mask on the image embeds,
with the step window in which the sampler holds the reference inside the mask
(:mod:`wfrun.sampling.ttm`, which also scales the mask to the latent grid as the node does).
An ``end_step`` below ``start_step`` (and 0) is refused, as in the pack."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds
from wfrun.sampling.conditioning import TtmEmbeds
from wfrun.sampling.ttm import TTMError, latent_mask


@executor("WanVideoAddTTMLatents")
def wanvideo_add_ttm_latents(ctx: ExecContext, embeds: Any, reference_latents: Any, mask: Any, start_step: int,
                             end_step: int, **_: Any) -> tuple:
    if not isinstance(embeds, ImageEmbeds):
        raise NodeInputError("embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(embeds).__name__}")
    if not isinstance(reference_latents, dict) or not isinstance(reference_latents.get("samples"), torch.Tensor):
        raise NodeInputError("reference_latents", "expected a LATENT (from WanVideoEncode)")
    if not isinstance(mask, torch.Tensor) or mask.ndim != 3:
        raise NodeInputError("mask", f"expected a MASK [frames, height, width], got {type(mask).__name__}")
    if int(end_step) < max(0, int(start_step)):
        raise NodeInputError("end_step", f"end_step ({end_step}) must be >= start_step ({start_step})")
    samples = reference_latents["samples"]
    reference = samples.squeeze(0) if samples.ndim == 5 else samples
    if reference.ndim != 4:
        raise NodeInputError("reference_latents", f"latents of shape {tuple(samples.shape)}; expected "
                             "[1, channels, frames, height, width]")
    try:
        motion_mask = latent_mask(mask, reference.shape[0])
    except TTMError as err:
        raise NodeInputError("mask", str(err)) from None
    ttm = TtmEmbeds(reference=reference.float().cpu(), mask=motion_mask.cpu(), start_step=int(start_step),
                    end_step=int(end_step))
    return (dataclasses.replace(embeds, ttm=ttm),)
