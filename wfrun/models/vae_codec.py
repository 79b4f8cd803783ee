"""Encoding videos to Wan VAE latents and back, as raw posterior means.

Both node families encode with the same diffusers ``AutoencoderKLWan`` but keep latents in
different spaces: ComfyUI's LATENT holds the VAE's raw posterior mean (its model normalises
on the way in, ``latent_format.process_in``), the WanVideoWrapper's holds them normalised
(``(mu - mean) / std``). This module is the shared, raw half; each pack adds its own
normalisation. Encoding takes the posterior mean, never a sample, as both packs do.

``parts`` lets a caller encode or decode a video in separate causal runs (the wrapper's
end-frame mode encodes the last frame on its own); each run starts with an empty cache.
Every encoder/decoder chunk ticks a bar and checks for Ctrl-C (:mod:`.vae_progress`).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.vae_progress import chunk_progress, decode_calls, encode_calls


def latent_stats(vae: Any, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The VAE's per-channel latent mean and std (diffusers config), shaped to broadcast
    over ``[B, C, T, H, W]``, in float32 on ``like``'s device."""
    shape = (1, -1, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32, device=like.device).view(shape)
    std = torch.tensor(vae.config.latents_std, dtype=torch.float32, device=like.device).view(shape)
    return mean, std


def split_last(x: torch.Tensor, separate_last: bool) -> list[torch.Tensor]:
    """``x`` as one causal run, or (``separate_last``) all but its last frame, then the last."""
    return [x[:, :, :-1], x[:, :, -1:]] if separate_last else [x]


@torch.no_grad()
def encode_raw(vae: Any, dtype: torch.dtype, video: torch.Tensor, device: Any, *, separate_last: bool = False,
               ctx: Any = None) -> torch.Tensor:
    """``video`` [B, 3, T, H, W] in -1..1 → raw latents [B, C, T', h, w] (float32)."""
    x = video.to(device=device, dtype=dtype)
    _, _, _, height, width = x.shape
    parts = split_last(x, separate_last)
    total = sum(encode_calls(vae, p.shape[2], height, width) for p in parts) * x.shape[0]
    with chunk_progress(ctx, vae.encoder, total, "VAE encode"):
        mu = torch.cat([torch.cat([vae.encode(p[i:i + 1]).latent_dist.mode() for p in parts], dim=2)
                        for i in range(x.shape[0])])
    return mu.float()


@torch.no_grad()
def decode_raw(vae: Any, dtype: torch.dtype, latents: torch.Tensor, device: Any, *, separate_last: bool = False,
               ctx: Any = None, description: str = "VAE decode") -> torch.Tensor:
    """Raw latents [B, C, T, h, w] → video [B, 3, T', H, W] clamped to -1..1 (float32)."""
    z = latents.to(device=device, dtype=dtype)
    parts = split_last(z, separate_last)
    total = sum(decode_calls(vae, p.shape[2], p.shape[3], p.shape[4]) for p in parts) * z.shape[0]
    with chunk_progress(ctx, vae.decoder, total, description):
        video = torch.cat([torch.cat([vae.decode(p[i:i + 1]).sample for p in parts], dim=2)
                           for i in range(z.shape[0])])
    return video.float().clamp(-1, 1)


