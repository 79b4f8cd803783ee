"""Progress and Ctrl-C for the Wan VAE, one tick per chunk.

diffusers' ``AutoencoderKLWan`` encodes a video in causal chunks (the first frame, then 4
frames at a time) and decodes it one latent frame at a time, each chunk one call of its
``encoder``/``decoder`` module (per tile when tiling). An 81-frame decode is 21 such calls
and takes seconds on a GPU, minutes on a CPU, so wfrun hooks those modules while a node
uses them: before each call it checks ``ctx.check_interrupt()`` (Ctrl-C stops within one
chunk, not after the whole video), after each call it advances a bar — what the pack shows
with its per-frame ``ProgressBar``.

The totals repeat diffusers' own chunk and tile loops (0.42). Were they to drift in a
later diffusers, only the bar's total would be off; the hooks never change a result.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from torch import nn


def _tile_grid(height: int, width: int, stride_h: int, stride_w: int) -> int:
    return len(range(0, height, max(1, stride_h))) * len(range(0, width, max(1, stride_w)))


def encode_calls(vae: Any, frames: int, height: int, width: int) -> int:
    """Encoder calls for a video of ``frames`` × ``height`` × ``width`` pixels."""
    patch = int(getattr(vae.config, "patch_size", None) or 1)
    height, width = height // patch, width // patch
    chunks = 1 + (frames - 1) // 4
    if getattr(vae, "use_tiling", False) and (width > vae.tile_sample_min_width or height > vae.tile_sample_min_height):
        return chunks * _tile_grid(height, width, vae.tile_sample_stride_height, vae.tile_sample_stride_width)
    return chunks


def decode_calls(vae: Any, frames: int, lat_h: int, lat_w: int) -> int:
    """Decoder calls for ``frames`` latent frames of ``lat_h`` × ``lat_w``."""
    ratio = int(vae.spatial_compression_ratio)
    if getattr(vae, "use_tiling", False) and (lat_w > vae.tile_sample_min_width // ratio
                                              or lat_h > vae.tile_sample_min_height // ratio):
        return frames * _tile_grid(lat_h, lat_w, vae.tile_sample_stride_height // ratio,
                                   vae.tile_sample_stride_width // ratio)
    return frames


def _bar(ctx: Any, total: int, description: str) -> Any:
    progress = getattr(ctx, "progress", None)
    open_bar = getattr(progress, "chunks", None)
    return open_bar(total, description) if open_bar is not None else None


@contextlib.contextmanager
def chunk_progress(ctx: Any, module: nn.Module, total: int, description: str) -> Iterator[None]:
    """While inside: check for Ctrl-C before each call of ``module``, tick a bar after it.

    ``ctx`` is the node's ``ExecContext`` (None: no progress, no interruption). The hooks
    are removed and the bar closed however the block ends, KeyboardInterrupt included.
    """
    if ctx is None:
        yield
        return
    ctx.check_interrupt()
    bar = _bar(ctx, total, description)

    def before(_module: nn.Module, _args: Any) -> None:
        ctx.check_interrupt()

    def after(_module: nn.Module, _args: Any, _out: Any) -> None:
        if bar is not None:
            bar.update(1)

    handles = [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        if bar is not None:
            bar.close()
