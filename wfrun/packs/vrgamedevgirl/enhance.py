"""The pack's two video finishing nodes (``nodes.py``), frame by frame on IMAGE batches.

* ``FastUnsharpSharpen``: ``out = clamp(x + strength * (x - blur3x3(x)), 0, 1)`` with a 3x3
  box blur. Since 2026-01-17 the pack blurs with the edge pixels repeated (its default CPU
  path) unless ``use_gpu`` is on, which averages with zeros past the border (``avg_pool2d``
  counting the padding). Files saved before then hold only ``strength``; the pack as it is
  now runs them with ``use_gpu`` off, and so does wfrun (the spec's default). The result is
  the same on any device; wfrun computes on the image's own device.
* ``FastFilmGrain``: Gaussian noise per pixel and channel, red scaled by 2 and blue by 3,
  mixed with the green channel's noise as grey (``saturation_mix`` 1: coloured, 0: grey),
  times ``grain_intensity``, added and clamped to 0..1. ``batch_size`` (2026-05-01) only
  bounds how many frames the pack moves to the GPU at once; wfrun draws the same kind of
  noise in the same chunks. Like the pack, the noise is drawn from torch's global random
  generator, so it differs between runs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _images(images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] < 1:
        raise NodeInputError("images", f"expected an IMAGE batch [frames, height, width, channels], got "
                             f"{getattr(images, 'shape', type(images).__name__)}")
    return images


def box_blur3(x: torch.Tensor, edge: bool) -> torch.Tensor:
    """3x3 mean of an NCHW tensor: edge pixels repeated past the border, or zeros counted."""
    if edge:
        return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel_size=3, stride=1)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=True)


@executor("FastUnsharpSharpen")
def fast_unsharp_sharpen(ctx: ExecContext, images: Any, strength: float, use_gpu: bool, **_: Any) -> tuple:
    x = _images(images).float().permute(0, 3, 1, 2)
    out = (x + float(strength) * (x - box_blur3(x, edge=not use_gpu))).clamp(0.0, 1.0)
    return (out.permute(0, 2, 3, 1).contiguous(),)


@executor("FastFilmGrain")
def fast_film_grain(ctx: ExecContext, images: Any, grain_intensity: float, saturation_mix: float,
                    batch_size: int, **_: Any) -> tuple:
    images = _images(images).float()
    if images.shape[-1] != 3:
        raise NodeInputError("images", f"film grain needs RGB images, got {images.shape[-1]} channels",
                             "remove the alpha channel first")
    step = int(batch_size) if int(batch_size) > 0 else max(1, images.shape[0])
    outputs = []
    for start in range(0, images.shape[0], step):
        batch = images[start:start + step]
        outputs.append((batch + grain(batch, float(saturation_mix)) * float(grain_intensity)).clamp(0.0, 1.0))
    return (torch.cat(outputs, dim=0) if outputs else images,)


def grain(batch: torch.Tensor, saturation_mix: float) -> torch.Tensor:
    """The pack's coloured noise for one chunk of frames."""
    noise = torch.randn_like(batch)
    noise[..., 0] *= 2.0
    noise[..., 2] *= 3.0
    grey = noise[..., 1:2].expand_as(noise)
    return saturation_mix * noise + (1.0 - saturation_mix) * grey
