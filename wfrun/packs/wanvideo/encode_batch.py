"""WanVideoEncodeLatentBatch (``nodes.py``, since 2025-09-02): each image encoded on its own,
as a one-frame video, so a batch of B images gives B one-latent videos ``[B, C, 1, h, w]``.

Why a node of its own: SVI Pro's anchor (WanVideoSVIProEmbeds) and the pack's multi-image
inits want the latent an image has as a *first* frame, with no temporal context from its
neighbours; WanVideoEncode would fold 4 frames into one latent instead.

As the pack: sizes not a multiple of 16 are first resized down to one (lanczos), an alpha
channel is dropped, tiles are in pixels as the widgets give them. The pack's TAEHV branch
does not exist for this node (its ``vae.encode`` call has no tiny-VAE form): a tiny VAE is
refused by name.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models import placement
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import TinyVAE, WanVAE
from wfrun.packs.wanvideo.vae import VAE_OOM_HINT, encode_video, resize_images, set_tiling

#: More images than any init batch needs; each is a full VAE encode.
MAX_IMAGES = 4096


@executor("WanVideoEncodeLatentBatch", oom_hint=VAE_OOM_HINT)
def wanvideo_encode_latent_batch(ctx: ExecContext, vae: Any, images: torch.Tensor, enable_vae_tiling: bool,
                                 tile_x: int, tile_y: int, tile_stride_x: int, tile_stride_y: int,
                                 **_: Any) -> tuple:
    if isinstance(vae, TinyVAE):
        raise NodeInputError("vae", "WanVideoEncodeLatentBatch needs the Wan VAE, not a tiny (TAEHV) VAE",
                             "load the VAE with WanVideoVAELoader")
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected WANVAE, got {type(vae).__name__}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] not in (3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError("images", f"expected IMAGE [batch, height, width, 3], got {shape}")
    count, height, width, _c = images.shape
    if count > MAX_IMAGES:
        raise NodeInputError("images", f"{count} images; at most {MAX_IMAGES} are encoded one by one")
    images = images[..., :3]
    if width % 16 or height % 16:
        if width < 16 or height < 16:
            raise NodeInputError("images", f"{width}x{height} is below 16 pixels on a side")
        images = resize_images(images, width // 16 * 16, height // 16 * 16)
    placement.onload(vae.vae, ctx.device)
    set_tiling(vae.vae, bool(enable_vae_tiling), (int(tile_x), int(tile_y)), (int(tile_stride_x), int(tile_stride_y)))
    latents = []
    try:
        for image in images.float():
            ctx.check_interrupt()
            frame = image.movedim(-1, 0).unsqueeze(1) * 2.0 - 1.0  # [3, 1, H, W] in -1..1
            latents.append(encode_video(vae, frame, ctx.device).cpu())
    finally:
        placement.offload(vae.vae, ctx.offload_device)
    return ({"samples": torch.stack(latents)},)
