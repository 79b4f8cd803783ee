"""ComfyUI's latent arithmetic (``comfy_extras/nodes_latent.py``): LatentAdd, LatentSubtract,
LatentMultiply, LatentInterpolate and LatentBatchSeedBehavior.

The second latent is first made like the first, as ComfyUI's ``reshape_latent_to`` does: of
another height or width it is resampled bilinearly after a centre crop to the first's aspect
ratio (frame by frame for video latents), then its batch is cut or tiled to the first's. A
second latent of another channel or frame count cannot be made like the first (ComfyUI then
fails on the arithmetic); it is refused by name. The other keys of the LATENT come from the
first.

* LatentInterpolate: per position, the two latents' channel vectors are normalised, mixed
  ``ratio · a + (1 - ratio) · b``, normalised again and given the mixed length
  ``ratio · |a| + (1 - ratio) · |b|`` (zero vectors stay zero: ComfyUI's ``nan_to_num``). For
  a batch of one this is ComfyUI's result; for more, ComfyUI's norms broadcast against the
  channel axis (an error, or a mix across channels where the batch equals the channel count),
  and wfrun keeps the per-position rule.
* LatentBatchSeedBehavior: ``random`` drops ``batch_index`` (each latent gets its own noise),
  ``fixed`` gives every latent the first one's index (the same noise for all).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_cut_nodes import repeat_to_batch_size
from wfrun.packs.comfy_core_models.latent_upscale import upscale_latent


def _latent(value: Any, name: str) -> torch.Tensor:
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim < 4 or samples.shape[0] == 0:
        raise NodeInputError(name, f"{name}: expected a LATENT (a dict with 'samples' [batch, channels, …])",
                             f"connect a LATENT output to '{name}'")
    return samples


def like_first(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``second`` resized and batched like ``first`` (ComfyUI's ``reshape_latent_to``)."""
    if second.shape[1:-2] != first.shape[1:-2]:
        raise NodeInputError("samples2", f"latents of shapes {list(first.shape)} and {list(second.shape)} differ in "
                             "channels or frames, which cannot be resized to match",
                             "combine latents of one model and one length")
    if second.shape[-2:] != first.shape[-2:]:
        second = upscale_latent(second, first.shape[-1], first.shape[-2], "bilinear", "center")
    return repeat_to_batch_size(second, first.shape[0])


def _with(samples1: dict, values: torch.Tensor) -> tuple:
    out = dict(samples1)
    out["samples"] = values
    return (out,)


@executor("LatentAdd")
def latent_add(ctx: ExecContext, samples1: Any, samples2: Any, **_: Any) -> tuple:
    first = _latent(samples1, "samples1")
    return _with(samples1, first + like_first(first, _latent(samples2, "samples2")))


@executor("LatentSubtract")
def latent_subtract(ctx: ExecContext, samples1: Any, samples2: Any, **_: Any) -> tuple:
    first = _latent(samples1, "samples1")
    return _with(samples1, first - like_first(first, _latent(samples2, "samples2")))


@executor("LatentMultiply")
def latent_multiply(ctx: ExecContext, samples: Any, multiplier: Any, **_: Any) -> tuple:
    return _with(samples, _latent(samples, "samples") * float(multiplier))


@executor("LatentInterpolate")
def latent_interpolate(ctx: ExecContext, samples1: Any, samples2: Any, ratio: Any, **_: Any) -> tuple:
    a = _latent(samples1, "samples1")
    b = like_first(a, _latent(samples2, "samples2"))
    ratio = float(ratio)
    norm_a, norm_b = torch.linalg.vector_norm(a, dim=1), torch.linalg.vector_norm(b, dim=1)
    unit_a = torch.nan_to_num(a / norm_a.unsqueeze(1))
    unit_b = torch.nan_to_num(b / norm_b.unsqueeze(1))
    mixed = unit_a * ratio + unit_b * (1.0 - ratio)
    direction = torch.nan_to_num(mixed / torch.linalg.vector_norm(mixed, dim=1).unsqueeze(1))
    return _with(samples1, direction * (norm_a * ratio + norm_b * (1.0 - ratio)).unsqueeze(1))


@executor("LatentBatchSeedBehavior")
def latent_batch_seed_behavior(ctx: ExecContext, samples: Any, seed_behavior: Any, **_: Any) -> tuple:
    latent = _latent(samples, "samples")
    out = dict(samples)
    if seed_behavior == "random":
        out.pop("batch_index", None)
    elif seed_behavior == "fixed":
        out["batch_index"] = [list(samples.get("batch_index", [0]))[0]] * latent.shape[0]
    else:
        raise NodeInputError("seed_behavior", f"unknown seed behavior {seed_behavior!r}", "use random or fixed")
    return (out,)
