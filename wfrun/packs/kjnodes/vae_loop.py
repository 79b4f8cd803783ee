"""KJNodes' VAEDecodeLoopKJ (``nodes/nodes.py``): a looping video decoded without a seam.

As the pack: the whole latent is decoded, then a second decode of the last
``overlap + 1`` latent frames followed by the first ``overlap`` ones, so the opening frames
are decoded with the end of the video as their causal past. Of that second decode the pack
keeps the frames from ``2 · (2 · overlap + 1) - 1`` on, and of the first it drops the first
``2 · overlap + 1`` frames (``3 · overlap + 1`` when ``overlap`` is above 2); the video is the
kept frames of the second decode followed by the rest of the first. For Wan's 4x temporal
VAE and ``overlap`` 2 that is the first 5 frames replaced by 8 (81 frames become 84): the
first latent frame, decoded after others, now gives 4 frames instead of 1, which is what
closes the loop."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.vae import check_vae, decode_latents


@executor("VAEDecodeLoopKJ", oom_hint="decode without the loop fix (VAEDecode), or free memory first")
def vae_decode_loop(ctx: ExecContext, samples: Any, vae: Any, overlap_latent_frames: int, **_: Any) -> tuple:
    vae = check_vae(vae)
    latents = samples.get("samples") if isinstance(samples, dict) else None
    if not isinstance(latents, torch.Tensor) or latents.ndim != 5:
        raise NodeInputError("samples", "expected a video LATENT [batch, channels, frames, height, width]",
                             "connect a sampler's LATENT")
    overlap = int(overlap_latent_frames)
    images = decode_latents(ctx, vae, latents)
    if overlap <= 0:
        return (images,)
    end_frames, start_frames = overlap + 1, overlap
    if latents.shape[2] < end_frames:
        raise NodeInputError("overlap_latent_frames", f"{overlap} overlapping latent frames need at least "
                             f"{end_frames} latent frames; the video has {latents.shape[2]}",
                             "lower overlap_latent_frames")
    wrapped = decode_latents(ctx, vae, torch.cat([latents[:, :, -end_frames:], latents[:, :, :start_frames]], dim=2))
    batch = latents.shape[0]
    images = images.reshape(batch, -1, *images.shape[1:])
    wrapped = wrapped.reshape(batch, -1, *wrapped.shape[1:])
    total = end_frames + start_frames
    keep_from = total * 2 - 1
    main_from = total + (overlap if overlap > 2 else 0)
    looped = torch.cat([wrapped[:, keep_from:].to(images), images[:, main_from:]], dim=1)
    return (looped.reshape(-1, *looped.shape[2:]),)
