"""WanVacePhantomSimpleV2's ``latent_in`` (the pack's ``_process_incoming_latent``): a latent
to continue from, lined up with this node's reference frame.

The node expects ``T' = (length-1)//4 + 1`` latent frames, or ``T' + 1`` when the latent
already holds a reference frame in front; any other count is refused (the pack raises).
With a reference given here (one counts as one frame, as the pack counts it) the latent's
own reference frame is zeroed, or a zero frame is put in front (and, from 94a3bfd, ones in
front of its noise mask for that frame); with none given a latent reference frame is cut
off. Every 5-D tensor of the LATENT dict with the samples' shape is changed alike (the
pack's walk over RES4LYF's ``state_info``). The result is then padded at the end with
latent-mean frames or cut to the node's own latent length.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from wfrun.models.families import WAN21
from wfrun.nodes.executor import NodeInputError


def _zero_front(t: torch.Tensor, n: int) -> torch.Tensor:
    out = t.clone()
    if t.shape[-3] >= n:
        out[..., :n, :, :] = 0
    return out


def _cut_front(t: torch.Tensor, n: int) -> torch.Tensor:
    return t[..., n:, :, :] if t.shape[-3] > n else torch.zeros_like(t[..., :1, :, :])


def _add_front(t: torch.Tensor, n: int) -> torch.Tensor:
    return torch.cat([torch.zeros_like(t[..., :n, :, :]), t], dim=-3)


def _walk(obj: Any, shape: torch.Size, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``obj`` with ``fn`` applied to each tensor whose last five sizes are ``shape``'s."""
    if isinstance(obj, torch.Tensor):
        return fn(obj) if obj.ndim >= 5 and obj.shape[-5:] == shape[-5:] else obj
    if isinstance(obj, dict):
        return {k: _walk(v, shape, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(v, shape, fn) for v in obj)
    return obj


def incoming(latent_in: Any, latent_out: dict, width: int, height: int, length: int, has_reference: bool,
             pad_noise_mask: bool) -> dict:
    if latent_in is None:
        return latent_out
    samples = latent_in.get("samples") if isinstance(latent_in, dict) else None
    if samples is None:
        if isinstance(latent_in, dict):
            return latent_out
        raise NodeInputError("latent_in", f"expected a LATENT, got {type(latent_in).__name__}")
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        raise NodeInputError("latent_in", "expected a video LATENT [batch, channels, frames, height, width]")
    if tuple(samples.shape[3:]) != (height // 8, width // 8):
        raise NodeInputError("latent_in", f"a latent of {samples.shape[3]}x{samples.shape[4]} for {width}x{height} "
                             f"pixels (expected {height // 8}x{width // 8})", "make the latent at the same size")
    expected = (length - 1) // 4 + 1
    frames = samples.shape[2]
    if frames not in (expected, expected + 1):
        raise NodeInputError("latent_in", f"{frames} latent frames where length {length} makes {expected} "
                             f"(or {expected + 1} with a reference frame)", "set length to the latent's video length")
    detected = frames - expected
    shape = samples.shape
    processed = latent_in
    if has_reference and detected:
        processed = _walk(latent_in, shape, lambda t: _zero_front(t, detected))
    elif has_reference:
        processed = _walk(latent_in, shape, lambda t: _add_front(t, 1))
        mask = latent_in.get("noise_mask")
        if pad_noise_mask and isinstance(mask, torch.Tensor):
            extra = max(1, int(round(mask.shape[0] / frames * 1)))
            processed = dict(processed)
            processed["noise_mask"] = torch.cat([torch.ones((extra,) + tuple(mask.shape[1:]), dtype=mask.dtype,
                                                            device=mask.device), mask], dim=0)
    elif detected:
        processed = _walk(latent_in, shape, lambda t: _cut_front(t, detected))
    out_samples, want = processed["samples"], latent_out["samples"].shape[2]
    if out_samples.shape[2] < want:
        pad = WAN21.process_out(torch.zeros_like(out_samples[..., :want - out_samples.shape[2], :, :]))
        out_samples = torch.cat([out_samples, pad], dim=2)
    elif out_samples.shape[2] > want:
        out_samples = out_samples[..., :want, :, :]
    result = dict(processed)
    result["samples"] = out_samples
    return result
