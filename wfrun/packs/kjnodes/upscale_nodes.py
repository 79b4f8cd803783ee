"""KJNodes' ``ImageUpscaleWithModelBatched``: the model on chunks of frames, untiled."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import common_upscale
from wfrun.models.upscale import UpscaleModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("ImageUpscaleWithModelBatched", oom_hint="lower per_batch")
def image_upscale_with_model_batched(ctx: ExecContext, upscale_model: Any, images: Any, per_batch: int,
                                     downscale_ratio: float, downscale_method: str,
                                     **unused: Any) -> tuple:
    """``per_batch`` frames at a time through the model, whole (no tiles) and not clamped, as
    the pack does; since 2026-01-26 each chunk is then resized by ``downscale_ratio`` (when
    below 1) with ``downscale_method`` (earlier saves get the spec's 1.0: no resize).
    Computation is in float32."""
    if not isinstance(upscale_model, UpscaleModel):
        raise NodeInputError("upscale_model", f"expected an UPSCALE_MODEL, got {type(upscale_model).__name__}",
                             "connect UpscaleModelLoader's output")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] < 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise NodeInputError("images", f"expected an IMAGE [frames, height, width, 3], got {shape}")
    if int(per_batch) < 1:
        raise NodeInputError("per_batch", f"must be at least 1, found {per_batch}")
    device = torch.device(ctx.device)
    pixels = images[..., :3].movedim(-1, 1).float()
    chunks = []
    upscale_model.to(device)
    try:
        with torch.inference_mode():
            for start in range(0, pixels.shape[0], int(per_batch)):
                ctx.check_interrupt()
                out = upscale_model(pixels[start:start + int(per_batch)].to(device))
                if float(downscale_ratio) < 1.0:
                    height, width = out.shape[-2:]
                    out = common_upscale(out, int(width * float(downscale_ratio)),
                                         int(height * float(downscale_ratio)), downscale_method)
                chunks.append(out.float().cpu())
    finally:
        upscale_model.to("cpu")
    return (torch.cat(chunks).movedim(1, -1).contiguous(),)
