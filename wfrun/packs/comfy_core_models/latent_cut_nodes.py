"""ComfyUI's latent slicing nodes (``comfy_extras/nodes_latent.py``, revision of our comfy-core
specs): LatentConcat, LatentCut and LatentCutToBatch. The Wan 2.2 S2V template joins its
extension latents with them; the Dancer template cuts its sampled clip into one-frame
latents before decoding.

The axes are named from the end of the latent, as ComfyUI names them: ``x`` is the last
axis, ``y`` the one before, ``t`` the third from the end. On a video latent
``[B, C, T, H, W]`` that is frames, height and width; on an image latent ``[B, C, H, W]``
``t`` is the *channel* axis — ComfyUI counts the same way and so does wfrun (LatentCut on
``t`` of an image latent cuts channels; LatentCutToBatch leaves it alone, as ComfyUI does
for an axis before the third).

Every other key of the LATENT (``noise_mask``, ``batch_index``) is passed on unchanged, not
cut with the samples, exactly as ComfyUI's shallow copy does.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

AXES = {"x": 1, "y": 2, "t": 3}  # how many axes from the end


def _latent(value: Any, name: str) -> tuple[dict, torch.Tensor]:
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim < 3:
        found = f"a tensor of shape {list(samples.shape)}" if isinstance(samples, torch.Tensor) else type(value).__name__
        raise NodeInputError(name, f"{name}: expected a LATENT (a dict with 'samples' [batch, channels, …]), found "
                             f"{found}", f"connect a LATENT output to '{name}'")
    return value, samples


def _axis(dim: Any, samples: torch.Tensor, name: str = "dim") -> int:
    """The axis (counted from the front) that ``dim`` names on ``samples``."""
    key = str(dim).lstrip("-")
    if key not in AXES:
        raise NodeInputError(name, f"{name} is {dim!r}; expected x, y or t (LatentConcat also -x, -y, -t)")
    axis = samples.ndim - AXES[key]
    if axis < 0:
        raise NodeInputError(name, f"the latent has {samples.ndim} axes; it has no {key} axis")
    return axis


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``comfy.utils.repeat_to_batch_size``: cut to ``batch_size`` or tile up to it."""
    if tensor.shape[0] > batch_size:
        return tensor[:batch_size]
    if tensor.shape[0] < batch_size:
        times = -(-batch_size // tensor.shape[0])
        return tensor.repeat((times,) + (1,) * (tensor.ndim - 1))[:batch_size]
    return tensor


@executor("LatentConcat")
def latent_concat(ctx: ExecContext, samples1: Any, samples2: Any, dim: Any, **_: Any) -> tuple:
    """``samples2`` joined after ``samples1`` along ``dim`` (before it for ``-x``, ``-y``,
    ``-t``), its batch first cut or tiled to ``samples1``'s. The other keys are
    ``samples1``'s."""
    first, s1 = _latent(samples1, "samples1")
    _, s2 = _latent(samples2, "samples2")
    axis = _axis(dim, s1)
    if s2.ndim != s1.ndim:
        raise NodeInputError("samples2", f"samples2 has {s2.ndim} axes, samples1 {s1.ndim}",
                             "join latents of one kind (two video latents or two image latents)")
    s2 = repeat_to_batch_size(s2, s1.shape[0])
    other = [i for i in range(1, s1.ndim) if i != axis and s1.shape[i] != s2.shape[i]]
    if other:
        raise NodeInputError("samples2", f"samples2 is {list(s2.shape)} and samples1 {list(s1.shape)}: they differ "
                             f"on axis {other[0]} besides the one joined", "join latents of the same size")
    parts = (s2, s1) if str(dim).startswith("-") else (s1, s2)
    out = dict(first)
    out["samples"] = torch.cat(parts, dim=axis)
    return (out,)


@executor("LatentCut")
def latent_cut(ctx: ExecContext, samples: Any, dim: Any, index: Any, amount: Any, **_: Any) -> tuple:
    """``amount`` slices of ``dim`` from ``index`` (negative counts from the end), both
    clamped into the latent as ComfyUI clamps them: a start past the end takes the last
    slice, and the amount stops at the end (or, from a negative start, at the end too)."""
    latent, s = _latent(samples, "samples")
    axis = _axis(dim, s)
    size = s.shape[axis]
    index, amount = int(index), int(amount)
    if amount < 1:
        raise NodeInputError("amount", f"amount is {amount}; expected at least 1")
    if index >= 0:
        index = min(index, size - 1)
        amount = min(size - index, amount)
    else:
        index = max(index, -size)
        amount = min(-index, amount)
        index += size
    out = dict(latent)
    out["samples"] = torch.narrow(s, axis, index, amount)
    return (out,)


@executor("LatentCutToBatch")
def latent_cut_to_batch(ctx: ExecContext, samples: Any, dim: Any, slice_size: Any, **_: Any) -> tuple:
    """Cut ``dim`` into pieces of ``slice_size`` and stack them along the batch: batch entry
    ``b * pieces + k`` is piece ``k`` of entry ``b``. A remainder that does not fill a piece
    is dropped; a ``slice_size`` above the axis's size is the whole axis. An axis before the
    third (``t`` of an image latent) gives the latent back unchanged, as in ComfyUI."""
    latent, s = _latent(samples, "samples")
    axis = _axis(dim, s)
    size = int(slice_size)
    if size < 1:
        raise NodeInputError("slice_size", f"slice_size is {size}; expected at least 1")
    if axis < 2:
        return (latent,)
    moved = s.movedim(axis, 1)
    size = min(size, moved.shape[1])
    moved = moved[:, :moved.shape[1] // size * size]
    out = dict(latent)
    out["samples"] = moved.reshape([-1, size] + list(moved.shape[2:])).movedim(1, axis)
    return (out,)
