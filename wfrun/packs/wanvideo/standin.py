"""The wrapper's ``WanVideoAddStandInLatent`` (``nodes.py``, 2025-08-12 on): Stand-In's
identity reference (the reference face's latent, with a RoPE frequency offset from
2025-08-15; the first signatures' start/end percents were never read) stored on the image
embeds. The node runs; WanVideoSampler then refuses the embeds by name (:mod:`wfrun.sampling.loop`):
the wrapper's sampler hands them to its model (forcing its "comfy" RoPE), whose blocks run
the reference latent's tokens beside the video's, joined in self-attention and shifted in
RoPE by ``freq_offset``; wfrun's transformer forward has no such path. The Stand-In LoRA
itself (WanVideoLoraSelect) loads like any LoRA."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds
from wfrun.sampling.conditioning import StandInEmbeds


@executor("WanVideoAddStandInLatent")
def wanvideo_add_standin_latent(ctx: ExecContext, embeds: Any, ip_image_latent: Any, freq_offset: int,
                                **_: Any) -> tuple:
    if not isinstance(embeds, ImageEmbeds):
        raise NodeInputError("embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(embeds).__name__}")
    if not isinstance(ip_image_latent, dict) or not isinstance(ip_image_latent.get("samples"), torch.Tensor):
        raise NodeInputError("ip_image_latent", "expected a LATENT (from WanVideoEncode)")
    standin = StandInEmbeds(ip_image_latent=ip_image_latent["samples"].cpu(), freq_offset=int(freq_offset))
    return (dataclasses.replace(embeds, standin=standin),)
