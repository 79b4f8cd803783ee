"""WanVideoMiniMaxRemoverEmbeds: MiniMax-Remover's conditioning (ComfyUI-WanVideoWrapper
``nodes.py``, 2025-06-17 on; its inputs unchanged since, only ``width``/``height`` maxima grew).

As the pack: ``target_shape`` is the text-to-video one, ``(16, (num_frames - 1) // 4 + 1,
height // 8, width // 8)``; the two LATENTs (WanVideoEncode's, of the video and of the mask
as an image) lose their batch dimension and are kept as they are — the sampler puts them
after the noise in every call (``sampling.remover``). The mask LATENT's own ``mask`` entry
(WanVideoEncode given a mask) is not read, as in the pack.

Refused here where the pack fails later in the sampler: LATENTs of more than one video (its
``squeeze(0)`` leaves them 5-D), of other than 16 channels, of different shapes, or of
another frame count or size than ``num_frames``/``width``/``height`` give (the pack's
``torch.cat`` with the noise fails).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.embeds import VAE_STRIDE
from wfrun.packs.wanvideo.types import ImageEmbeds
from wfrun.sampling.conditioning import RemoverEmbeds

#: Channels of the Wan 2.1 VAE's latents, the only ones the remover takes beside its noise.
LATENT_CHANNELS = 16


def _video_latents(latent: Any, name: str) -> torch.Tensor:
    """One video's latents ``[C, T, H, W]`` from a LATENT ``[1, C, T, H, W]``."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise NodeInputError(name, f"expected a LATENT (from WanVideoEncode), got {type(latent).__name__}")
    if samples.ndim != 5 or samples.shape[0] != 1:
        raise NodeInputError(name, f"latents of shape {tuple(samples.shape)}",
                             "give one video's latents [1, 16, T, H, W] (WanVideoEncode of one video)")
    samples = samples.squeeze(0)
    if samples.shape[0] != LATENT_CHANNELS:
        raise NodeInputError(name, f"latents with {samples.shape[0]} channels; MiniMax-Remover takes the Wan 2.1 "
                             f"VAE's {LATENT_CHANNELS}", "encode with the Wan 2.1 VAE (wan_2.1_vae)")
    return samples


@executor("WanVideoMiniMaxRemoverEmbeds")
def wanvideo_minimax_remover_embeds(ctx: ExecContext, width: int, height: int, num_frames: int, latents: Any,
                                    mask_latents: Any, **_: Any) -> tuple:
    video = _video_latents(latents, "latents")
    mask = _video_latents(mask_latents, "mask_latents")
    if mask.shape != video.shape:
        raise NodeInputError("mask_latents", f"mask latents of {tuple(mask.shape)} beside video latents of "
                             f"{tuple(video.shape)}", "encode the mask video at the video's size and frame count")
    target_shape = (LATENT_CHANNELS, (int(num_frames) - 1) // VAE_STRIDE[0] + 1, int(height) // VAE_STRIDE[1],
                    int(width) // VAE_STRIDE[2])
    for name, wanted, found in (("num_frames", target_shape[1], video.shape[1]), ("height", target_shape[2],
                                video.shape[2]), ("width", target_shape[3], video.shape[3])):
        if wanted != found:
            raise NodeInputError(name, f"{name} gives {wanted} latent {'frames' if name == 'num_frames' else 'pixels'}"
                                 f", the encoded video has {found} (latents {tuple(video.shape)})",
                                 "give the encoded video's frame count, width and height")
    return (ImageEmbeds(num_frames=int(num_frames), target_shape=target_shape,
                        remover=RemoverEmbeds(latents=video, mask_latents=mask)),)
