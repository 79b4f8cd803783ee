"""was_affine's Latent Affine Simple as registered on 2025-08-29 (commit a15922e), under the
class type ``LatentAffineSimple``; from 2025-09-02 the pack registers the node as
``WASLatentAffineSimple`` only, so a workflow naming ``LatentAffineSimple`` was saved with
that one revision (the node's ``ver`` may name an older commit: ComfyUI keeps the one the
node was first added with).

The node is :mod:`latent_affine`'s scale with no bias, the mask's parameters tuned to the
latent's size (``_auto_params``): ``y = x * ((1 - m) + m * scale)``. For ``perlin`` the
Perlin scale is ``max(8, min(h, w) / 14)`` with 4 octaves, persistence 0.6 and lacunarity
2.2; ``checker`` squares are ``max(4, min(h, w) // 32)`` wide; ``white_noise`` takes no
parameter. Threshold, inversion and blur are off and the strength 1, so the mask is the raw
field. Unlike later revisions of WASLatentAffine, the field is generated on the latent's own
device. The other patterns are refused naming ``noise_pattern``, as in WASLatentAffine.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.was_affine.latent_affine import DEFAULTS, SUPPORTED, _field


def auto_params(h: int, w: int, pattern: str) -> dict[str, Any]:
    """The revision's ``_auto_params`` for the patterns wfrun computes."""
    smin = min(h, w)
    if pattern == "perlin":
        return {"perlin_scale": max(8.0, smin / 14.0), "perlin_octaves": 4, "perlin_persistence": 0.6,
                "perlin_lacunarity": 2.2}
    if pattern == "checker":
        return {"checker_size": int(max(4, smin // 32))}
    return {}


@executor("LatentAffineSimple")
@torch.no_grad()
def latent_affine_simple(ctx: ExecContext, latent: Any, scale: Any, noise_pattern: Any, seed: Any,
                         temporal_mode: Any, frame_seed_stride: Any, **_: Any) -> tuple:
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise NodeInputError("latent", "latent: expected a LATENT")
    simple = tuple(p for p in SUPPORTED if p != "solid")  # solid is not one of this node's patterns
    if noise_pattern not in simple:
        raise NodeInputError("noise_pattern", f"noise_pattern {noise_pattern!r} is not reimplemented in wfrun "
                             f"(it computes {', '.join(simple)})", "choose one of those")
    x = latent["samples"]
    device, dtype = x.device, x.dtype
    seed = int(seed)
    if x.ndim not in (4, 5):
        raise NodeInputError("latent", f"latent: samples of {x.ndim} dimensions; the pack takes [N,C,H,W] or "
                             "[N,C,F,H,W]")
    h, w = x.shape[-2:]
    opts = {**DEFAULTS, **auto_params(h, w, noise_pattern)}
    if x.ndim == 4:
        m = _field(h, w, noise_pattern, opts, device, dtype, seed).repeat(x.shape[0], 1, 1, 1)
    elif temporal_mode == "static":
        m = _field(h, w, noise_pattern, opts, device, dtype, seed).unsqueeze(2).repeat(x.shape[0], 1, x.shape[2], 1, 1)
    else:
        stride = int(frame_seed_stride)
        frames = [_field(h, w, noise_pattern, opts, device, dtype, seed + i * stride) for i in range(x.shape[2])]
        m = torch.stack(frames, dim=2).repeat(x.shape[0], 1, 1, 1, 1)
    s = torch.as_tensor(scale, dtype=dtype, device=device)
    out = dict(latent)
    out["samples"] = x * ((1.0 - m) + m * s)
    mask = m.squeeze(1).clamp(0.0, 1.0).to(dtype)
    return out, (mask if x.ndim == 4 else mask.contiguous().view(-1, h, w))
