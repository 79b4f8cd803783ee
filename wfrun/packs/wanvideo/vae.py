"""Wan VAE nodes: WanVideoVAELoader, WanVideoDecode, WanVideoEncode, on diffusers' AutoencoderKLWan.

Latents are normalised as the pack's ``WanVideoVAE`` does: ``(mu - mean) / std`` on encode
(the posterior mean, never a sample) and ``z * std + mean`` on decode, with diffusers'
``latents_mean``/``latents_std`` config holding the same numbers as the pack's ``scale``.

The pack's end-frame mode (``end_=True``: an end image on a non-Fun I2V model) encodes the
video without its last frame as usual and the last frame *on its own*, as if it were a
first frame, then appends that latent; decoding does the mirror image (the last latent
decoded alone, giving one frame). With diffusers this is two encode/decode calls whose
caches start empty — the same computation as the pack's ``encode_2``/``decode_2``, whose
fresh ``feat_cache`` pads causally with zeros exactly like an empty cache.

Looped videos (the sampler's ``looped``: a ``uniform_looped`` context schedule or loop
args) decode as the pack's WanVideoDecode does: the whole video once, then the last 3
latents followed by the first 2 again, so the first frames are decoded with the end of the
video as their causal past. That second decode is min-max normalised on its own (whatever
``normalization`` says), and its frames from index 9 on (the first two latents, 8 frames)
replace the first 5 frames of the video: N latents give 4N frames (5 give 20, not 17), a
video whose last frame runs into its first. One deviation: a looped single latent frame
decodes as a plain one (the pack's slicing would leave no frame at all).

A tiny VAE (WanVideoTinyVAELoader's :class:`TinyVAE`) takes the pack's TAEHV branch in
both nodes (:mod:`.tiny_vae`): 0..1 frames straight in and out, no tiling or normalisation.

Each encode/decode ticks a bar per chunk (a latent frame, or 4 video frames) and stops
within a chunk on Ctrl-C (see :mod:`wfrun.models.vae_progress`). The raw encode and
decode are :mod:`wfrun.models.vae_codec`'s, shared with ComfyUI's core VAE nodes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models.header import CheckpointError
from wfrun.models import placement
from wfrun.nodes.models import loading_error, resolve
from wfrun.packs.wanvideo.tiny_vae import tiny_decode, tiny_encode
from wfrun.packs.wanvideo.types import TinyVAE, WanVAE
from wfrun.models.vae_codec import decode_raw, encode_raw, latent_stats

VAE_DTYPES = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}


@executor("WanVideoVAELoader", background=True)
def wanvideo_vae_loader(ctx: ExecContext, model_name: str, precision: str, **_: Any) -> tuple:
    from wfrun.models.load import load_vae

    dtype = VAE_DTYPES.get(precision)
    if dtype is None:
        raise NodeInputError("precision", f"unknown precision {precision!r}", "use fp16, fp32 or bf16")
    path = resolve(ctx, "vae", model_name, "model_name")
    try:
        vae = load_vae(path, dtype=dtype, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("model_name", err) from None
    vae.eval().requires_grad_(False)
    return (WanVAE(vae=vae, dtype=dtype, path=path),)


def set_tiling(vae: Any, tiled: bool, tile: tuple[int, int] = (272, 272), stride: tuple[int, int] = (144, 128)) -> None:
    """Tiles in pixels, as the node's widgets (x = width, y = height)."""
    if tiled:
        vae.enable_tiling(tile_sample_min_height=tile[1], tile_sample_min_width=tile[0],
                          tile_sample_stride_height=stride[1], tile_sample_stride_width=stride[0])
    else:
        vae.disable_tiling()


def encode_video(wan_vae: WanVAE, video: torch.Tensor, device: str, end_: bool = False,
                 ctx: ExecContext | None = None) -> torch.Tensor:
    """``video`` [3, T, H, W] in -1..1 → normalised latents [16, T', H/8, W/8] (float32).

    With ``ctx``: a bar per encoder chunk and Ctrl-C checked between chunks."""
    mu = encode_raw(wan_vae.vae, wan_vae.dtype, video.unsqueeze(0), device, separate_last=end_, ctx=ctx)
    mean, std = latent_stats(wan_vae.vae, mu)
    return ((mu - mean) / std)[0]


def decode_latents(wan_vae: WanVAE, latents: torch.Tensor, device: str, end_: bool = False,
                   ctx: ExecContext | None = None, description: str = "VAE decode") -> torch.Tensor:
    """Normalised latents [16, T, h, w] → video [3, T', H, W] clamped to -1..1 (float32).

    With ``ctx``: a bar per decoder chunk and Ctrl-C checked between chunks."""
    z = latents.unsqueeze(0).to(device=device, dtype=torch.float32)
    mean, std = latent_stats(wan_vae.vae, z)
    return decode_raw(wan_vae.vae, wan_vae.dtype, z * std + mean, device, separate_last=end_, ctx=ctx,
                      description=description)[0]


def loop_seam(wan_vae: WanVAE, latents: torch.Tensor, device: str, end_: bool = False,
              ctx: ExecContext | None = None) -> torch.Tensor:
    """The pack's looped-video seam: the last 3 latents then the first 2, decoded together
    and min-max normalised to 0..1; its frames from 9 on are the video's new first 8."""
    seam = torch.cat([latents[:, -3:], latents[:, :2]], dim=1)
    frames = decode_latents(wan_vae, seam, device, end_=end_, ctx=ctx, description="VAE decode (loop seam)")
    low, high = frames.min(), frames.max()
    return (frames - low) / (high - low if high > low else 1.0)


#: What the engine advises when VAE encode or decode runs out of memory.
VAE_OOM_HINT = "set enable_vae_tiling to true: tiles use less memory"


@executor("WanVideoDecode", oom_hint=VAE_OOM_HINT)
def wanvideo_decode(ctx: ExecContext, vae: WanVAE, samples: dict, enable_vae_tiling: bool,
                    tile_x: int, tile_y: int, tile_stride_x: int, tile_stride_y: int,
                    normalization: str = "default", **_: Any) -> tuple:
    if tile_x <= tile_stride_x:
        raise NodeInputError("tile_x", "tile width must be larger than the tile stride width")
    if tile_y <= tile_stride_y:
        raise NodeInputError("tile_y", "tile height must be larger than the tile stride height")
    if isinstance(samples, dict) and isinstance(samples.get("video"), torch.Tensor):
        # the MultiTalk long-video loop's frames, decoded already (-1..1): the pack only maps them
        return (((samples["video"].float().clamp(-1, 1) + 1.0) / 2.0).cpu().contiguous(),)
    if not isinstance(samples, dict) or "samples" not in samples:
        raise NodeInputError("samples", "expected a LATENT from WanVideoSampler")
    latents = samples["samples"]
    if latents.ndim == 5:
        latents = latents[0]
    if samples.get("has_ref"):
        latents = latents[:, 1:]
    if samples.get("drop_last"):
        latents = latents[:, :-1]
    if isinstance(vae, TinyVAE):  # the pack's TAEHV branch: 0..1 frames straight from the tiny decoder
        return (tiny_decode(ctx, vae, latents),)
    end_image = samples.get("end_image")
    tiled = bool(enable_vae_tiling) and end_image is None
    placement.onload(vae.vae, ctx.device)
    set_tiling(vae.vae, tiled, (tile_x, tile_y), (tile_stride_x, tile_stride_y))
    looped = bool(samples.get("looped")) and latents.shape[1] > 1
    try:
        images = decode_latents(vae, latents, ctx.device, end_=end_image is not None, ctx=ctx).cpu()
        seam = loop_seam(vae, latents, ctx.device, end_image is not None, ctx).cpu() if looped else None
    finally:
        placement.offload(vae.vae, ctx.offload_device)
    if normalization == "minmax":
        images = (images - images.min()) / (images.max() - images.min())
    else:
        images = (images.clamp(-1, 1) + 1.0) / 2.0
    if seam is not None:
        images = torch.cat([seam[:, 9:], images[:, 5:]], dim=1)
    if end_image is not None:
        images = images[:, :-1]
    return (images.clamp(0, 1).permute(1, 2, 3, 0).float().contiguous(),)



def add_noise_to_reference(video: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The pack's ``add_noise_to_reference_video``: Gaussian noise of std ``ratio`` (per
    sample), black (-1) pixels left black."""
    noise = torch.randn(video.shape, generator=generator, device=video.device, dtype=video.dtype) * ratio
    noise = torch.where(video == -1, torch.zeros_like(video), noise)
    return video + noise


def resize_images(images: torch.Tensor, width: int, height: int, method: str = "lanczos") -> torch.Tensor:
    """IMAGE [F, H, W, 3] → [F, height, width, 3], as the pack's ``common_upscale`` calls."""
    from wfrun.packs.wanvideo.image_ops import common_upscale

    return common_upscale(images.movedim(-1, 1).float(), width, height, method).movedim(1, -1)


@executor("WanVideoEncode", oom_hint=VAE_OOM_HINT)
def wanvideo_encode(ctx: ExecContext, vae: WanVAE, image: torch.Tensor, enable_vae_tiling: bool,
                    tile_x: int, tile_y: int, tile_stride_x: int, tile_stride_y: int,
                    noise_aug_strength: float, latent_strength: float, mask: Any = None,
                    **_: Any) -> tuple:
    frames, height, width, _c = image.shape
    if width % 16 or height % 16:
        image = resize_images(image, width // 16 * 16, height // 16 * 16)
    video = image.movedim(-1, 0).float()  # [3, F, H, W]
    empty = [i for i in range(frames) if float(video[:, i].abs().max()) == 0.0]
    if noise_aug_strength > 0.0:
        video = add_noise_to_reference(video, noise_aug_strength)
    if isinstance(vae, TinyVAE):  # the pack's TAEHV branch: 0..1 frames, no tiling
        latents = tiny_encode(ctx, vae, video)
    else:
        placement.onload(vae.vae, ctx.device)
        set_tiling(vae.vae, bool(enable_vae_tiling), (tile_x, tile_y), (tile_stride_x, tile_stride_y))
        try:
            latents = encode_video(vae, video * 2.0 - 1.0, ctx.device, ctx=ctx).unsqueeze(0)
        finally:
            placement.offload(vae.vae, ctx.offload_device)
    if latent_strength != 1.0:
        latents = latents * latent_strength
    empty_latents = _empty_latent_indices(empty, frames)
    latent_mask = None
    if mask is not None:
        m = F.interpolate(mask.float().unsqueeze(0).unsqueeze(0), size=latents.shape[2:], mode="trilinear",
                          align_corners=False).squeeze(0)
        latent_mask = m.unsqueeze(0).repeat(1, latents.shape[1], 1, 1, 1)
    return ({"samples": latents.cpu(), "mask": latent_mask, "empty_latent_indices": empty_latents},)



def _empty_latent_indices(empty_frames: list[int], frames: int) -> list[int]:
    """Latents whose source frames are all black (latent 0 = frame 0, then 4 frames each)."""
    if not empty_frames:
        return []
    ranges = [[0]] + [list(range(1 + 4 * (i - 1), min(1 + 4 * i, frames)))
                      for i in range(1, -(-(frames - 1) // 4) + 1)]
    return [i for i, r in enumerate(ranges) if r and set(r) <= set(empty_frames)]
