"""KJNodes' GetLatentRangeFromBatch (``nodes/nodes.py``): ``num_frames`` latents from
``start_index`` — along the batch of a 4-D latent, along the frames of a 5-D (video) one.
``start_index`` -1 means the last ``num_frames``; ``num_frames`` -1 means to the end; a
start outside the latents is an error, as in the pack. The result holds only ``samples``
(the pack drops any other keys, such as a noise mask)."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("GetLatentRangeFromBatch")
def get_latent_range(ctx: ExecContext, latents: Any, start_index: int, num_frames: int, **_: Any) -> tuple:
    samples = latents.get("samples") if isinstance(latents, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim not in (4, 5):
        raise NodeInputError("latents", "expected a LATENT with 4-D or 5-D samples")
    count = samples.shape[0] if samples.ndim == 4 else samples.shape[2]
    start, frames = int(start_index), int(num_frames)
    if start == -1:
        start = max(0, count - frames)
    if start < 0 or start >= count:
        raise NodeInputError("start_index", f"start_index {start_index} is outside the {count} latents")
    end = count if frames == -1 else min(start + frames, count)
    chosen = samples[start:end] if samples.ndim == 4 else samples[:, :, start:end]
    return ({"samples": chosen.contiguous()},)
