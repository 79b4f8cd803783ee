"""Image upscale models (ESRGAN, Real-ESRGAN compact, SwinIR, DAT, PLKSR, …) through
`spandrel`, the model zoo ComfyUI's ``UpscaleModelLoader`` uses, and ComfyUI's tiled run.

Reading: these models are mostly released as ``.pth`` files. The upscale loader is one of
the few places that reads ``.pth`` without ``--allow-pickle``, and then only through
``torch.load(weights_only=True)`` (PyTorch's restricted unpickler, which builds tensors
and plain containers and nothing else); ``.safetensors`` is read as everywhere else, and
``.ckpt``/``.pt``/``.bin`` pickles still need the run's opt-in (``models.reader``).

spandrel (and torchvision, which it imports) is imported on first use only: it is the
``upscale`` extra (``pip install 'wfrun[upscale]'``), and a run that upscales nothing never
needs it. Where it is not installed (torchvision cannot always sit beside a CPU-only torch),
``models.upscale_native`` runs the two architectures nearly every Wan workflow uses, ESRGAN
(RRDBNet) and Real-ESRGAN compact, and refuses the rest naming the extra; where spandrel is
installed it is always preferred.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from wfrun.models.reader import PTH_SUFFIXES, open_checkpoint  # noqa: F401 - PTH_SUFFIXES re-exported
from wfrun.models.upscale_native import UpscaleModelError, load_native  # noqa: F401 - the error is re-exported


#: ComfyUI's tile and overlap for ImageUpscaleWithModel; the tile halves on running out of
#: memory down to MIN_TILE.
TILE, OVERLAP, MIN_TILE = 512, 32, 128


def read_release_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of ``path``: safetensors as always, or a ``.pth`` through
    ``torch.load(weights_only=True)`` without the run's pickle opt-in (other pickle
    suffixes follow ``models.reader``'s rule). Used by the upscale and frame-interpolation
    loaders only, whose models are mostly released as ``.pth``."""
    path = Path(path)
    allow = True if path.suffix.lower() in PTH_SUFFIXES else None
    with open_checkpoint(path, allow_pickle=allow) as reader:
        return dict(reader.iter_tensors())


@dataclass(frozen=True)
class UpscaleModel:
    """``UPSCALE_MODEL``: a spandrel ``ImageModelDescriptor`` (or, without spandrel,
    ``upscale_native.NativeDescriptor``, which has the same call, scale, ``model`` and
    ``to``) and the file it came from."""

    descriptor: Any
    path: Path

    @property
    def scale(self) -> int:
        return int(self.descriptor.scale)

    @property
    def module(self) -> torch.nn.Module:
        return self.descriptor.model

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in 0..1 → [B, 3, H*scale, W*scale] (both descriptors clamp to 0..1)."""
        return self.descriptor(pixels)

    def to(self, device: Any) -> "UpscaleModel":
        self.descriptor.to(device)
        return self


def load_upscale_model(path: str | Path) -> UpscaleModel:
    """An upscale model, as ComfyUI's UpscaleModelLoader loads it: the state dict (with the
    ``module.`` prefix of DataParallel SwinIR saves removed), spandrel's architecture
    detection, and a refusal of anything that is not a single-image model (inpainting or
    face-restoration models). Without spandrel, ESRGAN and compact models are built natively
    (``upscale_native``) and anything else is refused with the extra to install."""
    path = Path(path)
    state = read_release_state_dict(path)
    if "module.layers.0.residual_group.blocks.0.norm1.weight" in state:
        state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    try:
        import spandrel
    except ImportError:
        return UpscaleModel(load_native(state, path), path)
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise UpscaleModelError(
            f"{path}: not an upscale model of any architecture spandrel knows "
            f"({len(state)} tensors, first {next(iter(state), 'none')!r})") from None
    except (KeyError, RuntimeError, ValueError, IndexError, TypeError) as err:
        raise UpscaleModelError(f"{path}: looks like an upscale model but cannot be built from it "
                                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise UpscaleModelError(f"{path}: a {descriptor.architecture.name} model, which is not a single-image "
                                "model (inpainting and restoration models are not upscalers)")
    return UpscaleModel(descriptor.eval(), path)


def tile_positions(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of each tile along one side, as ComfyUI's tiled_scale steps them:
    every ``tile - overlap`` pixels, the last ones pulled back to end at the edge."""
    out = []
    for start in range(0, size, tile - overlap):
        pos = max(0, min(size - overlap, start))
        out.append((pos, min(tile, size - pos)))
    return out


@torch.inference_mode()
def tiled_scale(pixels: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], *, tile: int, overlap: int,
                scale: int, out_channels: int = 3, output_device: Any = "cpu",
                step: Callable[[], None] | None = None) -> torch.Tensor:
    """``fn`` over overlapping ``tile``-square tiles of each image of ``pixels`` [B, C, H, W],
    blended with linear ramps ``overlap * scale`` wide (ComfyUI's ``tiled_scale``): an image
    that fits one tile is run whole."""
    batch, _, height, width = pixels.shape
    out_h, out_w = round(height * scale), round(width * scale)
    output = torch.empty((batch, out_channels, out_h, out_w), device=output_device)
    feather = round(overlap * scale)
    for b in range(batch):
        image = pixels[b:b + 1]
        if height <= tile and width <= tile:
            output[b:b + 1] = fn(image).to(output_device)
            if step is not None:
                step()
            continue
        acc = torch.zeros((1, out_channels, out_h, out_w), device=output_device)
        weight = torch.zeros_like(acc)
        for (y, h), (x, w) in itertools.product(tile_positions(height, tile, overlap),
                                                tile_positions(width, tile, overlap)):
            part = fn(image[:, :, y:y + h, x:x + w]).to(output_device)
            mask = torch.ones_like(part)
            for dim in (2, 3):
                length = mask.shape[dim]
                if feather >= length:
                    continue
                ramp = torch.arange(1, feather + 1, device=mask.device, dtype=mask.dtype) / feather
                shape = [1, 1, 1, 1]
                shape[dim] = feather
                mask.narrow(dim, 0, feather).mul_(ramp.view(shape))
                mask.narrow(dim, length - feather, feather).mul_(ramp.flip(0).view(shape))
            oy, ox = round(y * scale), round(x * scale)
            acc[:, :, oy:oy + part.shape[2], ox:ox + part.shape[3]] += part * mask
            weight[:, :, oy:oy + part.shape[2], ox:ox + part.shape[3]] += mask
            if step is not None:
                step()
        output[b:b + 1] = acc / weight
    return output


def tile_count(height: int, width: int, tile: int, overlap: int) -> int:
    if height <= tile and width <= tile:
        return 1
    return len(tile_positions(height, tile, overlap)) * len(tile_positions(width, tile, overlap))


def upscale_tiled(model: UpscaleModel, image: torch.Tensor, device: Any, *, tile: int = TILE, overlap: int = OVERLAP,
                  min_tile: int = MIN_TILE, steps: Callable[[int], Any] | None = None) -> torch.Tensor:
    """ComfyUI's ImageUpscaleWithModel on an IMAGE [B, H, W, C]: tiles of 512 with 32 pixels
    of overlap, halved after each out-of-memory error down to 128, the result clamped to 0..1.
    An RGBA image is upscaled on its first three channels. ``steps(total)`` gives a progress
    bar (``update(n)``, ``close()``) for the tiles of one attempt."""
    pixels = image[..., :3].movedim(-1, 1).float()
    model.to(device)
    try:
        while True:
            bar = steps(pixels.shape[0] * tile_count(pixels.shape[2], pixels.shape[3], tile, overlap)) if steps else None
            try:
                out = tiled_scale(pixels, lambda t: model(t.to(device)), tile=tile, overlap=overlap,
                                  scale=model.scale, step=(lambda: bar.update(1)) if bar is not None else None)
                break
            except torch.OutOfMemoryError:
                tile //= 2
                if tile < min_tile:
                    raise
            finally:
                if bar is not None and hasattr(bar, "close"):
                    bar.close()
    finally:
        model.to("cpu")
    return out.movedim(1, -1).clamp(0, 1)
