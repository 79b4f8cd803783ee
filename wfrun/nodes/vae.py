"""A video VAE's decode as ComfyUI's VAEDecode does it, for every pack's decoder: the core
VAEDecode nodes and other packs' decoders of ComfyUI's VAE (KJNodes' VAEDecodeLoopKJ) share
one path, the VAE brought onto the run's device by :mod:`wfrun.models.residency` (where it
stays until another model needs the room, as ComfyUI's model management keeps it)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import residency
from wfrun.models.handles import WanVAE
from wfrun.models.vae_codec import decode_raw
from wfrun.nodes.executor import ExecContext, NodeInputError


def check_vae(vae: Any, input_name: str = "vae") -> WanVAE:
    if not isinstance(vae, WanVAE):
        raise NodeInputError(input_name, f"expected a VAE from VAELoader, got {type(vae).__name__}")
    return vae


def decode_latents(ctx: ExecContext, vae: WanVAE, samples: torch.Tensor) -> torch.Tensor:
    """Raw latents ``[B, C, T, h, w]`` → IMAGE ``[B·T', H, W, 3]`` in 0..1 (float32, CPU)."""
    expected = int(vae.vae.config.z_dim)
    if samples.ndim != 5 or samples.shape[1] != expected:
        raise NodeInputError("samples", f"latents of shape {tuple(samples.shape)} do not fit this VAE "
                             f"({expected} channels, [batch, channels, frames, height, width])",
                             "decode with the VAE of the model that made them (Wan 2.2 5B latents need the Wan 2.2 VAE)")
    residency.bring(vae.vae, ctx.device, ctx.offload_device)
    video = decode_raw(vae.vae, vae.dtype, samples.float(), ctx.device, ctx=ctx)
    frames = ((video + 1.0) / 2.0).clamp(0, 1).permute(0, 2, 3, 4, 1)
    return frames.reshape(-1, *frames.shape[2:]).cpu()
