"""ComfyUI's LatentFromBatch and RepeatLatentBatch (``nodes.py``): a latent batch cut or
repeated, its ``noise_mask`` and ``batch_index`` with it, as ComfyUI does them.

* LatentFromBatch: ``length`` latents from ``batch_index`` (both clamped into the batch). A
  one-entry noise mask is kept whole; a longer one is repeated up to the batch, then cut the
  same way. ``batch_index`` (which seeds each latent's noise, ``sampling.ksampler.noise``) is
  cut along, or, absent, made the positions taken, so the latents keep the noise they would
  have had in the whole batch.
* RepeatLatentBatch: the batch ``amount`` times; a noise mask of more than one entry is
  repeated too; a ``batch_index`` list goes on with each repeat offset by its span.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _latent(value: Any, name: str) -> tuple[dict, torch.Tensor]:
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim < 3 or samples.shape[0] == 0:
        raise NodeInputError(name, f"{name}: expected a LATENT (a dict with 'samples' [batch, channels, …])",
                             f"connect a LATENT output to '{name}'")
    return value, samples


def _masks_for(masks: torch.Tensor, batch: int) -> torch.Tensor:
    """A noise mask repeated up to the latent batch, as ComfyUI's ``masks.repeat`` does."""
    if masks.shape[0] < batch:
        masks = masks.repeat(math.ceil(batch / masks.shape[0]), *(1,) * (masks.ndim - 1))[:batch]
    return masks


@executor("LatentFromBatch")
def latent_from_batch(ctx: ExecContext, samples: Any, batch_index: Any, length: Any, **_: Any) -> tuple:
    latent, s_in = _latent(samples, "samples")
    start = min(s_in.shape[0] - 1, int(batch_index))
    count = min(s_in.shape[0] - start, int(length))
    out = dict(latent)
    out["samples"] = s_in[start:start + count].clone()
    if "noise_mask" in latent:
        masks = latent["noise_mask"]
        out["noise_mask"] = masks.clone() if masks.shape[0] == 1 else \
            _masks_for(masks, s_in.shape[0])[start:start + count].clone()
    out["batch_index"] = list(latent["batch_index"])[start:start + count] if "batch_index" in latent else \
        list(range(start, start + count))
    return (out,)


@executor("RepeatLatentBatch")
def repeat_latent_batch(ctx: ExecContext, samples: Any, amount: Any, **_: Any) -> tuple:
    latent, s_in = _latent(samples, "samples")
    amount = int(amount)
    if amount < 1:
        raise NodeInputError("amount", f"amount {amount}", "repeat at least once")
    out = dict(latent)
    out["samples"] = s_in.repeat((amount,) + (1,) * (s_in.ndim - 1))
    masks = latent.get("noise_mask")
    if isinstance(masks, torch.Tensor) and masks.shape[0] > 1:
        out["noise_mask"] = masks.repeat((amount,) + (1,) * (masks.ndim - 1))
    if "batch_index" in latent:
        index = list(latent["batch_index"])
        offset = max(index) - min(index) + 1
        out["batch_index"] = index + [x + i * offset for i in range(1, amount) for x in index]
    return (out,)
