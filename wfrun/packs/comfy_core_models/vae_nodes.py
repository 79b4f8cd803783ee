"""VAEEncode, VAEDecode, VAEDecodeTiled for Wan VAEs, as ComfyUI runs a video VAE.

An IMAGE batch is one video: ``[T, H, W, 3]`` in 0..1 becomes ``[1, 3, T, H, W]`` in -1..1;
its size is first cropped (centred) to a multiple of the VAE's spatial compression, as
ComfyUI's ``vae_encode_crop_pixels``. LATENT holds raw posterior means (see
``latent_format``). Decoding returns every frame of every batch entry as one IMAGE batch
``[B·T', H, W, 3]``. ``VAEDecodeTiled`` decodes with diffusers' spatial tiling at the
node's tile size and overlap; temporal tiling is not done (the Wan VAE decodes one latent
frame at a time anyway, which is what temporal tiles save memory for).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from wfrun.models import residency
from wfrun.models.vae_codec import decode_raw, encode_raw
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.types import WanVAE

VAE_OOM_HINT = "use VAEDecodeTiled (smaller tiles use less memory)"


def spatial_ratio(vae: WanVAE) -> int:
    return int(vae.vae.spatial_compression_ratio)


def check_vae(vae: Any, input_name: str = "vae") -> WanVAE:
    if not isinstance(vae, WanVAE):
        raise NodeInputError(input_name, f"expected a VAE from VAELoader, got {type(vae).__name__}")
    return vae


def crop_to_ratio(images: torch.Tensor, ratio: int) -> torch.Tensor:
    """Centre-crop ``[T, H, W, C]`` so H and W are multiples of ``ratio``."""
    h, w = images.shape[1], images.shape[2]
    nh, nw = (h // ratio) * ratio, (w // ratio) * ratio
    if nh == 0 or nw == 0:
        raise ValueError(f"images of {w}x{h} are smaller than the VAE's {ratio}-pixel grid")
    y, x = (h % ratio) // 2, (w % ratio) // 2
    return images[:, y:y + nh, x:x + nw]


@contextlib.contextmanager
def _on_device(ctx: ExecContext, vae: WanVAE) -> Iterator[None]:
    """The VAE on the run's device for an encode or decode; it stays there until another
    model needs the room (:mod:`wfrun.models.residency`, ComfyUI's model management)."""
    residency.bring(vae.vae, ctx.device, ctx.offload_device)
    yield


def encode_images(ctx: ExecContext, vae: WanVAE, images: torch.Tensor) -> torch.Tensor:
    """IMAGE ``[T, H, W, C]`` (0..1) → raw latents ``[1, C_lat, T', h, w]`` (float32, CPU)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("pixels", "expected an IMAGE batch [frames, height, width, channels]")
    frames = crop_to_ratio(images[..., :3].float(), spatial_ratio(vae))
    video = frames.movedim(-1, 0).unsqueeze(0) * 2.0 - 1.0
    with _on_device(ctx, vae):
        return encode_raw(vae.vae, vae.dtype, video, ctx.device, ctx=ctx).cpu()


def decode_latents(ctx: ExecContext, vae: WanVAE, samples: torch.Tensor) -> torch.Tensor:
    """Raw latents ``[B, C, T, h, w]`` → IMAGE ``[B·T', H, W, 3]`` in 0..1 (float32, CPU)."""
    expected = int(vae.vae.config.z_dim)
    if samples.ndim != 5 or samples.shape[1] != expected:
        raise NodeInputError("samples", f"latents of shape {tuple(samples.shape)} do not fit this VAE "
                             f"({expected} channels, [batch, channels, frames, height, width])",
                             "decode with the VAE of the model that made them (Wan 2.2 5B latents need the Wan 2.2 VAE)")
    with _on_device(ctx, vae):
        video = decode_raw(vae.vae, vae.dtype, samples.float(), ctx.device, ctx=ctx)
    frames = ((video + 1.0) / 2.0).clamp(0, 1).permute(0, 2, 3, 4, 1)
    return frames.reshape(-1, *frames.shape[2:]).cpu()


@executor("VAEEncode")
def vae_encode(ctx: ExecContext, pixels: torch.Tensor, vae: WanVAE, **_: Any) -> tuple:
    vae = check_vae(vae)
    try:
        return ({"samples": encode_images(ctx, vae, pixels)},)
    except ValueError as err:
        raise NodeInputError("pixels", str(err)) from None


@executor("VAEDecode", oom_hint=VAE_OOM_HINT)
def vae_decode(ctx: ExecContext, samples: dict, vae: WanVAE, **_: Any) -> tuple:
    vae = check_vae(vae)
    return (decode_latents(ctx, vae, _samples(samples)),)


@executor("VAEDecodeTiled", oom_hint="lower tile_size")
def vae_decode_tiled(ctx: ExecContext, samples: dict, vae: WanVAE, tile_size: int, overlap: int,
                     temporal_size: int, temporal_overlap: int, **_: Any) -> tuple:
    vae = check_vae(vae)
    if overlap >= tile_size:
        raise NodeInputError("overlap", f"overlap {overlap} must be smaller than tile_size {tile_size}")
    stride = tile_size - overlap
    vae.vae.enable_tiling(tile_sample_min_height=tile_size, tile_sample_min_width=tile_size,
                          tile_sample_stride_height=stride, tile_sample_stride_width=stride)
    try:
        return (decode_latents(ctx, vae, _samples(samples)),)
    finally:
        vae.vae.disable_tiling()


def _samples(samples: Any) -> torch.Tensor:
    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor):
        raise NodeInputError("samples", f"expected a LATENT, got {type(samples).__name__}", "connect a sampler's LATENT")
    return samples["samples"]
