"""WanAdvancedExtractLastFrames / WanAdvancedExtractLastImages (``wan_advanced_i2v.py``):
the tail of a video to continue from.

- Latent: the last ``(num_frames - 1) // 4 + 1`` latent frames (the Wan VAE's 4:1 time
  compression after the first frame), as a LATENT holding only ``samples`` (the pack drops
  any noise mask); 0 frames gives an empty time axis.
- Images: the last ``num_frames`` images (all of them when there are fewer); 0 gives none.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _count(num_frames: Any) -> int:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 0:
        raise NodeInputError("num_frames", f"expected a whole number of at least 0, found {num_frames!r}")
    return num_frames


@executor("WanAdvancedExtractLastFrames")
def extract_last_frames(ctx: ExecContext, samples: Any, num_frames: Any, **_: Any) -> tuple:
    latent = samples.get("samples") if isinstance(samples, dict) else None
    if not isinstance(latent, torch.Tensor) or latent.ndim != 5:
        raise NodeInputError("samples", "expected a video LATENT [batch, channels, frames, height, width]")
    n = _count(num_frames)
    if n == 0:
        return ({"samples": torch.zeros_like(latent[:, :, :0])},)
    return ({"samples": latent[:, :, -((n - 1) // 4 + 1):].clone()},)


@executor("WanAdvancedExtractLastImages")
def extract_last_images(ctx: ExecContext, images: Any, num_frames: Any, **_: Any) -> tuple:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise NodeInputError("images", "expected an IMAGE batch [frames, height, width, channels]")
    n = _count(num_frames)
    return (images[:0].clone() if n == 0 else images[-n:].clone(),)
