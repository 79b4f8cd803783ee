"""WanVideoStartEndDecode_2frames: the fork's decode, which differs from WanVideoDecode.

What the fork does (``nodes.py`` 2025-03-19/20 with ``wan_video_vae_2frames.py``):

1. With ``enable_vae_tiling`` (the default, and what its example and saved workflows use)
   its VAE takes DiffSynth's tiled decode and ignores the end-frame flag: *all* T latents,
   the separately encoded end latent too, decode as one causal run into ``4T - 3`` frames.
   Tiles and strides are in *latent* units there, ``tile_x``/``tile_stride_x`` along the
   height and ``tile_y``/``tile_stride_y`` along the width (the fork passes (x, y) where
   DiffSynth reads (h, w)); tiles overlap with linear ramps over ``size - stride`` latents
   (times 8 in pixels) on inner edges, and the blend is clamped to -1..1. A video no larger
   than one tile (at the defaults: up to 272 latents = 2176 px a side) is one plain decode.
2. The whole video is min-max normalised to 0..1 (not ``(x + 1) / 2``).
3. The first frame is replaced by the ``start`` image and the last four frames by the
   ``end`` image, both resized to the video (ComfyUI lanczos): ``4T - 3 - 5 + 2`` frames,
   82 for 81 requested (22 latents).

Refused: ``enable_vae_tiling`` false. The fork's untiled end-frame decode then indexes its
last latent as a 4-D tensor and fails inside the VAE decoder, so there is no output to match.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.models import placement
from wfrun.models.handles import WanVAE
from wfrun.models.vae_codec import decode_raw, latent_stats
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

UP = 8  # the Wan VAE's spatial factor


def ramp(length: int, low_bound: bool, high_bound: bool, border: int) -> torch.Tensor:
    """DiffSynth's 1-D tile weight: 1 inside, (1..border)/border ramps on inner edges."""
    x = torch.ones(length)
    steps = (torch.arange(border) + 1) / border if border > 0 else torch.zeros(0)
    if not low_bound and border > 0:
        x[:border] = steps
    if not high_bound and border > 0:
        x[-border:] = steps.flip(0)
    return x


def tiles(size: int, tile: int, stride: int) -> list[int]:
    """Tile starts along one axis, DiffSynth's rule: a tile whose predecessor already
    reaches the end is skipped."""
    return [s for s in range(0, size, stride) if not (s - stride >= 0 and s - stride + tile >= size)]


def tiled_decode(decode: Any, z: torch.Tensor, tile: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """``decode`` ([1, C, T, h, w] latents → [1, 3, 4T-3, 8h, 8w]) over DiffSynth's tiles.

    ``tile``/``stride`` are (height, width) in latents."""
    _, _, t, h, w = z.shape
    frames = t * 4 - 3
    values = torch.zeros(1, 3, frames, h * UP, w * UP)
    weight = torch.zeros(1, 1, frames, h * UP, w * UP)
    for top in tiles(h, tile[0], stride[0]):
        for left in tiles(w, tile[1], stride[1]):
            bottom, right = top + tile[0], left + tile[1]
            out = decode(z[:, :, :, top:bottom, left:right]).float().cpu()
            oh, ow = out.shape[3], out.shape[4]
            mh = ramp(oh, top == 0, bottom >= h, (tile[0] - stride[0]) * UP)
            mw = ramp(ow, left == 0, right >= w, (tile[1] - stride[1]) * UP)
            mask = torch.minimum(mh[:, None].expand(oh, ow), mw[None, :].expand(oh, ow))
            values[:, :, :, top * UP:top * UP + oh, left * UP:left * UP + ow] += out * mask
            weight[:, :, :, top * UP:top * UP + oh, left * UP:left * UP + ow] += mask
    return (values / weight).clamp(-1, 1)


def splice_ends(video: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Video [3, F, H, W] in 0..1 → [3, F - 3, H, W]: frame 0 becomes ``start``, the last
    four frames become one ``end`` frame (images resized to the video, lanczos)."""
    h, w = video.shape[2], video.shape[3]
    first = common_upscale(start.movedim(-1, 1).float(), w, h, "lanczos", "disabled").transpose(0, 1)
    last = common_upscale(end.movedim(-1, 1).float(), w, h, "lanczos", "disabled").transpose(0, 1)
    return torch.cat([first, video[:, 1:-4], last], dim=1)


@executor("WanVideoStartEndDecode_2frames", oom_hint="lower tile_x/tile_y (latent units in this node)")
@torch.no_grad()
def start_end_decode(ctx: ExecContext, vae: WanVAE, samples: dict, start: torch.Tensor, end: torch.Tensor,
                     enable_vae_tiling: bool, tile_x: int, tile_y: int, tile_stride_x: int, tile_stride_y: int,
                     **_: Any) -> tuple:
    if not enable_vae_tiling:
        raise NodeInputError("enable_vae_tiling", "the fork's untiled start/end decode fails in its VAE (it "
                             "indexes the end latent as a 4-D tensor), so wfrun has nothing to reproduce",
                             "set enable_vae_tiling to true, as the fork's example workflow does")
    if not isinstance(vae, WanVAE):
        raise NodeInputError("vae", f"expected a WANVAE, got {type(vae).__name__}", "connect WanVideoVAELoader_2frames")
    if not isinstance(samples, dict) or "samples" not in samples:
        raise NodeInputError("samples", "expected a LATENT from WanVideoStartEndSampler_2frames")
    for name, image in (("start", start), ("end", end)):
        if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] != 1:
            raise NodeInputError(name, "expected one IMAGE frame", f"pass a single image to {name}")
    latents = samples["samples"]
    z = (latents if latents.ndim == 5 else latents.unsqueeze(0)).float()
    if z.shape[2] < 2:
        raise NodeInputError("samples", f"{z.shape[2]} latent frame(s): the fork's decode needs at least 2")
    for name, value in (("tile_x", tile_x), ("tile_y", tile_y)):
        if value <= 0:
            raise NodeInputError(name, f"{value} is not a tile size")
    mean, std = latent_stats(vae.vae, z)
    placement.onload(vae.vae, ctx.device)
    if hasattr(vae.vae, "disable_tiling"):
        vae.vae.disable_tiling()  # the tiling here is the fork's, in latent units

    def decode(part: torch.Tensor) -> torch.Tensor:
        return decode_raw(vae.vae, vae.dtype, part * std.to(part) + mean.to(part), ctx.device, ctx=ctx)

    try:
        video = tiled_decode(decode, z, (int(tile_x), int(tile_y)), (int(tile_stride_x), int(tile_stride_y)))[0]
    finally:
        placement.offload(vae.vae, ctx.offload_device)
    low, high = video.min(), video.max()
    video = ((video - low) / (high - low if high > low else 1.0)).clamp(0, 1)
    images = splice_ends(video, start, end)
    return (images.permute(1, 2, 3, 0).float().contiguous(),)
