"""WanVideoTinyVAELoader, and the tiny VAE's encode/decode for WanVideoDecode/WanVideoEncode.

The pack loads madebyollin's TAEHV (``taew2_1`` for Wan 2.1 latents, ``taew2_2`` for Wan
2.2's 48-channel ones, found by the latent width in the file) from ``models/vae_approx``
and hands it out as a WANVAE; its decode and encode nodes test for it and call the tiny
model's ``decode_video``/``encode_video`` on 0..1 images, skipping everything that only the
real VAE has (tiling, normalisation, end-frame and loop handling). wfrun does the same
with :class:`TinyVAE` (see :mod:`wfrun.models.taehv` for the network).

Where wfrun differs from the pack at the version saved (2025-09):
- an encode of a frame count that is not a multiple of 4 pads the end with copies of the
  last frame (madebyollin's reference does; the pack's sequential path silently dropped
  the leftover frames), so 4n+1 frames give n+1 latents, as the real Wan VAE does;
- ``parallel`` only trades memory for speed here (the numbers are identical either way).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch

from wfrun.models import placement
from wfrun.models.header import CheckpointError
from wfrun.models.taehv import TaehvError, load_taehv
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve
from wfrun.packs.wanvideo.types import TinyVAE

DTYPES = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}


@executor("WanVideoTinyVAELoader", background=True)
def wanvideo_tiny_vae_loader(ctx: ExecContext, model_name: str, precision: str, parallel: bool,
                             **_: Any) -> tuple:
    dtype = DTYPES.get(precision)
    if dtype is None:
        raise NodeInputError("precision", f"unknown precision {precision!r}", "use fp16, fp32 or bf16")
    path = resolve(ctx, "vae_approx", model_name, "model_name")
    try:
        model = load_taehv(path, dtype=dtype, device=ctx.offload_device)
    except (CheckpointError, TaehvError) as err:
        raise loading_error("model_name", err) from None
    return (TinyVAE(model=model, dtype=dtype, parallel=bool(parallel), path=path),)


@contextmanager
def _ticks(ctx: ExecContext | None, total: int, description: str) -> Iterator[Callable[[], None] | None]:
    """A bar ticked per chunk, and Ctrl-C checked between chunks."""
    if ctx is None:
        yield None
        return
    ctx.check_interrupt()
    bar = ctx.progress.chunks(total, description) if ctx.progress is not None else None

    def tick() -> None:
        if bar is not None:
            bar.update(1)
        ctx.check_interrupt()
    try:
        yield tick
    finally:
        if bar is not None:
            bar.close()


@torch.no_grad()
def tiny_decode(ctx: ExecContext, vae: TinyVAE, latents: torch.Tensor) -> torch.Tensor:
    """Latents [C, T, h, w] (the pack's normalised space) -> IMAGE [4(T-1)+1, H, W, 3] in 0..1."""
    if latents.shape[0] != vae.model.latent_channels:
        raise NodeInputError("samples", f"latents have {latents.shape[0]} channels; this tiny VAE decodes "
                             f"{vae.model.latent_channels}", "use taew2_1 for Wan 2.1 latents, taew2_2 for Wan 2.2 5B")
    placement.onload(vae.model, ctx.device)
    try:
        z = latents.to(device=ctx.device, dtype=vae.dtype).movedim(0, 1).unsqueeze(0)  # [1, T, C, h, w]
        with _ticks(ctx, 1 if vae.parallel else z.shape[1], "tiny VAE decode") as tick:
            video = vae.model.decode_video(z, parallel=vae.parallel, tick=tick)
    finally:
        placement.offload(vae.model, ctx.offload_device)
    return video[0].permute(0, 2, 3, 1).float().cpu().contiguous()


@torch.no_grad()
def tiny_encode(ctx: ExecContext, vae: TinyVAE, video: torch.Tensor) -> torch.Tensor:
    """Video [3, F, H, W] in 0..1 -> latents [1, C, ceil(F/4), H/8, W/8] (float32, CPU)."""
    placement.onload(vae.model, ctx.device)
    try:
        x = video.to(device=ctx.device, dtype=vae.dtype).movedim(0, 1).unsqueeze(0)  # [1, F, 3, H, W]
        chunks = -(-x.shape[1] // vae.model.t_downscale)
        with _ticks(ctx, 1 if vae.parallel else chunks, "tiny VAE encode") as tick:
            latents = vae.model.encode_video(x, parallel=vae.parallel, tick=tick)
    finally:
        placement.offload(vae.model, ctx.offload_device)
    return latents.movedim(2, 1).float().cpu()
