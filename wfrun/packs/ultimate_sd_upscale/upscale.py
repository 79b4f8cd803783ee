"""UltimateSDUpscaleNoUpscale: redraw an image tile by tile with image-to-image (ComfyUI_UltimateSDUpscale 1.7.x).

What the node does at 1.7.1 (read from ``usdu_nodes.py``, ``usdu_patch.py``, ``modules/`` and
the vendored A1111 script), and wfrun with it:

- Every image of the batch becomes an 8-bit RGB picture (``255·x`` truncated); the result is
  8-bit too. The canvas is the image size rounded to multiples of 8; only the first image goes
  through the script's "upscaler" (with no model: LANCZOS steps of the script's factor chain,
  then LANCZOS to the canvas), the others are resized to the canvas directly. At sizes already
  multiples of 8 both are the identity.
- Tiles of ``tile_width × tile_height`` cover the canvas (``grid.py``), in Linear or Chess
  order. For each tile the padded region is cropped from *every* image of the batch, resized
  (LANCZOS) to the sampling size where it differs, and the crops go as one IMAGE batch through
  VAEEncode -> KSampler (same seed for every tile) -> VAEDecode. wfrun calls its own core
  executors of those nodes from the executor registry, so a Wan VAE treats the batch exactly as
  ComfyUI's does: as the frames of one video. Decoded tile ``i`` is pasted onto image ``i``
  through the tile's rectangle mask, Gaussian-blurred by ``mask_blur`` and limited to the
  cropped region (PIL alpha compositing, as the script). If the decode returns fewer pictures
  than images (a Wan VAE turns 2 frames into 1), the later images keep their earlier state, as
  in ComfyUI.
- ``mode_type`` None skips the redraw (the canvas resize alone).

Not reproduced, refused by name: the seam fix modes (Band Pass, Half Tile, Half Tile +
Intersections) and ``batch_size`` above 1 (the patch's batched tiles). The conditioning is
passed as it is: the pack crops only ControlNet hints, GLIGEN boxes, areas, masks and reference
latents, none of which wfrun's conditioning carries.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.packs.ultimate_sd_upscale.grid import Tile, grid_shape, round8, tile_for, tile_order

MODES = ("Linear", "Chess", "None")
#: ComfyUI's VAEDecodeTiled arguments the pack uses for ``tiled_decode`` (tile 512, node defaults otherwise).
TILED_DECODE = {"tile_size": 512, "overlap": 64, "temporal_size": 64, "temporal_overlap": 8}
#: Largest canvas side wfrun accepts (the node's MAX_RESOLUTION).
MAX_SIDE = 8192


def to_pil(image: torch.Tensor, index: int) -> Image.Image:
    """IMAGE frame -> 8-bit RGB, truncating as the pack does."""
    frame = torch.nan_to_num(image[index]).cpu().numpy()
    return Image.fromarray((255 * frame).astype(np.uint8))


def to_tensor(images: list[Image.Image]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images]))


def script_factor_chain(scale_factor: int) -> list[int]:
    """The A1111 script's chain of upscale steps (4, 3 or 2 at a time) to reach an integer factor."""
    def step(n: int) -> int:
        return 2 if n == 1 else 4 if n % 4 == 0 else 3 if n % 3 == 0 else 2 if n % 2 == 0 else 0
    while step(scale_factor) == 0:
        scale_factor += 1
    scales, current = [], 1
    while current < scale_factor:
        factor = step(scale_factor // current)
        scales.append(factor)
        current *= factor
        if factor == 0:
            break
    return scales


def canvas(images: list[Image.Image]) -> list[Image.Image]:
    """Resize the batch to the canvas as the pack does with no upscale model (see the module doc)."""
    first = images[0]
    width, height = round8(first.width), round8(first.height)
    scaled = first
    for factor in script_factor_chain(math.ceil(max(width, height) / max(first.width, first.height))):
        if factor > 1:   # the pack's upscaler returns the image as it is for a factor of 1
            scaled = scaled.resize((scaled.width * factor, scaled.height * factor), Image.Resampling.LANCZOS)
    out = [scaled.resize((width, height), Image.Resampling.LANCZOS)]
    return out + [im.resize((width, height), Image.Resampling.LANCZOS) for im in images[1:]]


def tile_mask(size: tuple[int, int], tile: Tile, blur: int) -> Image.Image:
    """The tile's white rectangle (far corner inclusive, as PIL draws it), blurred."""
    mask = Image.new("L", size, 0)
    x1, y1, x2, y2 = tile.rect
    mask.paste(255, (x1, y1, min(x2 + 1, size[0]), min(y2 + 1, size[1])))
    return mask.filter(ImageFilter.GaussianBlur(blur)) if blur > 0 else mask


def paste_tile(base: Image.Image, redrawn: Image.Image, crop: tuple[int, int, int, int], mask: Image.Image) -> Image.Image:
    """Blend the redrawn crop over ``base`` with the blurred mask as alpha, inside the crop only."""
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    tile = redrawn.convert("RGBA")
    tile.putalpha(mask.crop(crop))
    layer.paste(tile, crop[:2])
    out = base.convert("RGBA")
    out.alpha_composite(layer)
    return out.convert("RGB")


def _core(name: str) -> Any:
    return builtin_executor(name, "model")


def redraw_tile(ctx: ExecContext, images: list[Image.Image], tile: Tile, mask_blur: int, sampling: dict,
                vae: Any, tiled_decode: bool) -> list[Image.Image]:
    """One tile of every image: crop, encode, sample, decode, paste back."""
    crops = [im.crop(tile.crop) for im in images]
    crop_size = crops[0].size
    crops = [c if c.size == tile.size else c.resize(tile.size, Image.Resampling.LANCZOS) for c in crops]
    (latent,) = _core("VAEEncode")(ctx, pixels=to_tensor(crops), vae=vae)
    (samples,) = _core("KSampler")(ctx, latent_image=latent, **sampling)
    if tiled_decode:
        (decoded,) = _core("VAEDecodeTiled")(ctx, samples=samples, vae=vae, **TILED_DECODE)
    else:
        (decoded,) = _core("VAEDecode")(ctx, samples=samples, vae=vae)
    mask = tile_mask(images[0].size, tile, mask_blur)
    out = list(images)
    for i in range(min(len(decoded), len(images))):
        redrawn = to_pil(decoded, i)
        if redrawn.size != crop_size:
            redrawn = redrawn.resize(crop_size, Image.Resampling.LANCZOS)
        out[i] = paste_tile(images[i], redrawn, tile.crop, mask)
    return out


@executor("UltimateSDUpscaleNoUpscale")
def ultimate_sd_upscale_no_upscale(ctx: ExecContext, upscaled_image: torch.Tensor, model: Any, positive: Any,
                                   negative: Any, vae: Any, seed: int, steps: int, cfg: float, sampler_name: str,
                                   scheduler: str, denoise: float, mode_type: str, tile_width: int, tile_height: int,
                                   mask_blur: int, tile_padding: int, seam_fix_mode: str, force_uniform_tiles: bool,
                                   tiled_decode: bool, batch_size: int, **_: Any) -> tuple:
    if not isinstance(upscaled_image, torch.Tensor) or upscaled_image.ndim != 4 or upscaled_image.shape[-1] != 3:
        raise NodeInputError("upscaled_image", "expected an IMAGE [frames, height, width, 3]", "connect an IMAGE")
    if mode_type not in MODES:
        raise NodeInputError("mode_type", f"{mode_type!r} is not one of {', '.join(MODES)}")
    if seam_fix_mode != "None":
        raise NodeInputError("seam_fix_mode", f"seam fix mode {seam_fix_mode!r} is not implemented in wfrun",
                             "set seam_fix_mode to None")
    if int(batch_size) != 1:
        raise NodeInputError("batch_size", f"batched tiles (batch_size {batch_size}) are not implemented in wfrun",
                             "set batch_size to 1")
    if min(int(tile_width), int(tile_height)) <= 0:
        raise NodeInputError("tile_width", "tile sizes must be positive")
    if max(upscaled_image.shape[1:3]) > MAX_SIDE:
        raise NodeInputError("upscaled_image", f"images above {MAX_SIDE} pixels a side are refused")
    images = canvas([to_pil(upscaled_image, i) for i in range(upscaled_image.shape[0])])
    if mode_type != "None":
        width, height = images[0].size
        rows, cols = grid_shape(width, height, int(tile_width), int(tile_height))
        sampling = dict(model=model, positive=positive, negative=negative, seed=seed, steps=steps, cfg=cfg,
                        sampler_name=sampler_name, scheduler=scheduler, denoise=denoise)
        for xi, yi in tile_order(rows, cols, mode_type):
            ctx.check_interrupt()
            tile = tile_for(xi, yi, width, height, int(tile_width), int(tile_height), int(tile_padding),
                            bool(force_uniform_tiles))
            images = redraw_tile(ctx, images, tile, int(mask_blur), sampling, vae, bool(tiled_decode))
    return (to_tensor(images),)
