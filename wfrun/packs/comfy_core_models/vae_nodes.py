"""VAEEncode, VAEEncodeTiled, VAEDecode, VAEDecodeTiled for Wan VAEs, as ComfyUI runs a video VAE.

An IMAGE batch is one video: ``[T, H, W, 3]`` in 0..1 becomes ``[1, 3, T, H, W]`` in -1..1;
its size is first cropped (centred) to a multiple of the VAE's spatial compression, as
ComfyUI's ``vae_encode_crop_pixels``. LATENT holds raw posterior means (see
``latent_format``). Decoding returns every frame of every batch entry as one IMAGE batch
``[B·T', H, W, 3]``. ``VAEDecodeTiled`` decodes with diffusers' spatial tiling at the
node's tile size and overlap; temporal tiling is not done (the Wan VAE decodes one latent
frame at a time anyway, which is what temporal tiles save memory for). ``VAEEncodeTiled``
tiles as ComfyUI does, in time and space (:func:`encode_tiled`), each tile one plain encode.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterator

import torch

from wfrun.models import residency
from wfrun.models.vae_codec import encode_raw
from wfrun.models.vae_progress import chunk_progress, encode_calls
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.vae import check_vae, decode_latents  # noqa: F401 - the pack's modules import them from here
from wfrun.packs.comfy_core_models.types import WanVAE

VAE_OOM_HINT = "use VAEDecodeTiled (smaller tiles use less memory)"


def spatial_ratio(vae: WanVAE) -> int:
    return int(vae.vae.spatial_compression_ratio)


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


def _pixels_to_video(vae: WanVAE, images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0 \
            or not images.is_floating_point():
        raise NodeInputError("pixels", "expected an IMAGE batch [frames, height, width, channels]")
    try:
        frames = crop_to_ratio(images[..., :3].float(), spatial_ratio(vae))
    except ValueError as err:
        raise NodeInputError("pixels", str(err)) from None
    return frames.movedim(-1, 0).unsqueeze(0) * 2.0 - 1.0


def _feather(tile: torch.Tensor, widths: tuple[int, ...]) -> torch.Tensor:
    """A tile's blending weight ``[1, 1, t, h, w]``: 1 inside, a ramp ``k / width`` (k = 1 …
    width) toward each of its faces along each axis whose width is below the tile's size."""
    weight = torch.ones([1, 1, *tile.shape[2:]])
    for axis, width in enumerate(widths, start=2):
        if width >= weight.shape[axis]:
            continue
        for k in range(width):
            a = (k + 1) / width
            weight.narrow(axis, k, 1).mul_(a)
            weight.narrow(axis, weight.shape[axis] - 1 - k, 1).mul_(a)
    return weight


def encode_tiled(ctx: ExecContext, vae: WanVAE, images: Any, tile_size: int, overlap: int,
                 temporal_size: int, temporal_overlap: int) -> torch.Tensor:
    """IMAGE → raw latents ``[1, C, T', h, w]`` by ComfyUI's tiling (``VAE.encode_tiled`` with
    ``tiled_scale_multidim``), each tile a plain encode of its own.

    As ComfyUI, with ``r`` the VAE's frames per latent frame (4) and ``s`` its pixels per
    latent pixel (8; 16 for Wan 2.2): a count of ``n`` frames makes ``⌊(n + r - 1) / r⌋``
    latent frames and ``m`` latent frames span ``m·r - r + 1`` frames. The video is cut to
    the frames whole latent frames span (``4k + 1``). Tiles are ``temporal_size`` frames
    (rounded to whole latent frames, at least 2) by ``tile_size`` pixels square; they start
    every ``tile - overlap`` along each axis (the temporal overlap rounded likewise, at most
    half a tile), the last one moved back to end at the edge; an axis that fits in one tile
    is not split. Each tile is encoded as a video of its own (a tile that starts later in
    time begins a new causal run, so its first latent frame encodes one frame, as ComfyUI
    does) and placed at its start ÷ ``r`` (÷ ``s``) with a weight ramping up over the
    overlap's latent width at each of its faces; the result is the weighted mean.

    Where wfrun differs: ``tile_size`` and ``overlap`` must be multiples of ``s`` (the
    node's widgets step by 64 and 32); diffusers' own tiling (VAEDecodeTiled) is not used
    here, since it neither splits time nor blends as ComfyUI does (it cross-fades each
    overlap with one linear ramp, keeps a stride-sized part of each tile and runs every
    tile over the whole clip in one causal run), so its latents would differ from
    ComfyUI's wherever the clip is longer than one temporal tile. Each tile is encoded by
    diffusers' ``AutoencoderKLWan`` as VAEEncode encodes.
    """
    ratio = spatial_ratio(vae)
    r = int(getattr(vae.vae.config, "scale_factor_temporal", 4) or 4)

    def down(n: int) -> int:
        return max(0, (n + r - 1) // r)

    def up(m: int) -> int:
        return max(0, m * r - (r - 1))

    for value, name in ((tile_size, "tile_size"), (overlap, "overlap")):
        if value % ratio:
            raise NodeInputError(name, f"{name} {value} is not a multiple of this VAE's {ratio}-pixel grid",
                                 f"use a multiple of {ratio} (the widget steps by 64 or 32)")
    if overlap >= tile_size:
        raise NodeInputError("overlap", f"overlap {overlap} must be smaller than tile_size {tile_size}")
    video = _pixels_to_video(vae, images)
    video = video[:, :, :up(down(video.shape[2]))]
    tile_t_latent = max(2, down(temporal_size))
    tile = (up(tile_t_latent), tile_size, tile_size)
    over = (up(max(1, min(tile_t_latent // 2, down(temporal_overlap)))), overlap, overlap)
    sizes = tuple(video.shape[2:])
    out_sizes = (down(sizes[0]), sizes[1] // ratio, sizes[2] // ratio)
    feather = (down(over[0]), over[1] // ratio, over[2] // ratio)
    if all(size <= t for size, t in zip(sizes, tile)):
        pieces = [(0, 0, 0)]
    else:
        axes = [range(0, size - o, t - o) if size > t else [0] for size, t, o in zip(sizes, tile, over)]
        pieces = [tuple(max(0, min(size - o, p)) for size, o, p in zip(sizes, over, it))
                  for it in itertools.product(*axes)]
    spans = [tuple(min(t, size - p) for size, t, p in zip(sizes, tile, start)) for start in pieces]
    total = sum(encode_calls(vae.vae, span[0], span[1], span[2]) for span in spans)
    out = torch.zeros([1, int(vae.vae.config.z_dim), *out_sizes])
    weight = torch.zeros([1, 1, *out_sizes])
    tiling = getattr(vae.vae, "use_tiling", False)
    vae.vae.use_tiling = False  # each tile is one plain encode
    try:
        with _on_device(ctx, vae), chunk_progress(ctx, vae.vae.encoder, total, "VAE encode (tiled)"):
            for start, span in zip(pieces, spans):
                piece = video[:, :, start[0]:start[0] + span[0], start[1]:start[1] + span[1],
                              start[2]:start[2] + span[2]]
                latent = encode_raw(vae.vae, vae.dtype, piece, ctx.device).cpu()
                if len(pieces) == 1:
                    return latent
                w = _feather(latent, feather)
                at = (start[0] // r, start[1] // ratio, start[2] // ratio)
                lengths = [min(latent.shape[d + 2], out_sizes[d] - at[d]) for d in range(3)]
                region = tuple(slice(a, a + n) for a, n in zip(at, lengths))
                part = tuple(slice(0, n) for n in lengths)
                out[(slice(None), slice(None), *region)] += latent[(slice(None), slice(None), *part)] * w[(..., *part)]
                weight[(slice(None), slice(None), *region)] += w[(..., *part)]
    finally:
        vae.vae.use_tiling = tiling
    return out / weight


@executor("VAEEncode")
def vae_encode(ctx: ExecContext, pixels: torch.Tensor, vae: WanVAE, **_: Any) -> tuple:
    vae = check_vae(vae)
    try:
        return ({"samples": encode_images(ctx, vae, pixels)},)
    except ValueError as err:
        raise NodeInputError("pixels", str(err)) from None


@executor("VAEEncodeTiled", oom_hint="lower tile_size or temporal_size")
def vae_encode_tiled(ctx: ExecContext, pixels: Any, vae: Any, tile_size: Any, overlap: Any, temporal_size: Any,
                     temporal_overlap: Any, **_: Any) -> tuple:
    vae = check_vae(vae)
    tile_size = _int(tile_size, "tile_size", 64, 4096)
    overlap = _int(overlap, "overlap", 0, 4096)
    temporal_size = _int(temporal_size, "temporal_size", 8, 4096)
    temporal_overlap = _int(temporal_overlap, "temporal_overlap", 4, 4096)
    return ({"samples": encode_tiled(ctx, vae, pixels, tile_size, overlap, temporal_size, temporal_overlap)},)


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise NodeInputError(name, f"{name}: expected a whole number, found {value!r}"[:160])
    if not low <= value <= high:
        raise NodeInputError(name, f"{name} is {int(value)}; expected a whole number from {low} to {high}")
    return int(value)


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
