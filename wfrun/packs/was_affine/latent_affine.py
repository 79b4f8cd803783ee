"""was_affine's WAS Latent Affine (``WASLatentAffine``) and WAS Perlin Options, as the pack
computes them from 2025-09-02 to the newest stored commit (2026-04-19): the class changed only
in comments, tooltips, widget steps and the seed's maximum, and from 2025-11-04 on it unwraps a
NestedTensor latent (audio + video) into parts it treats alike; wfrun's latents are plain
tensors, which take the same path as before.

A mask ``m`` (one [h, w] field per latent, or per frame with ``temporal_mode`` "per_frame",
seeded ``seed + i * frame_seed_stride``) scales and shifts the latent where it is set:
``y = x * ((1 - m) + m * scale) + bias * m``; the second output is the mask, one per frame.
The pack generates the field on CUDA when the machine has it (its ``compute_device`` default),
else on the CPU, and so does wfrun: the generator's numbers differ between the two.

wfrun computes the procedural masks ``perlin``, ``white_noise``, ``checker`` and ``solid``,
with the options' ``threshold``, ``invert_mask``, ``mask_strength`` and ``clamp``. The other
patterns (spectral noises, gratings, content-aware masks, external masks), blurring and
sharpening of the mask are refused naming the input; they are not reimplemented here.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.was_affine.perlin import perlin_noise

SUPPORTED = ("perlin", "white_noise", "checker", "solid")

#: The pack's option defaults that matter for the supported patterns.
DEFAULTS: dict[str, Any] = {
    "perlin_scale": 64.0, "perlin_octaves": 3, "perlin_persistence": 0.5, "perlin_lacunarity": 2.0,
    "checker_size": 8, "solid_alpha": 1.0, "blur_ksize": 0, "blur_sigma": 0.0, "threshold": 0.0,
    "invert_mask": False, "mask_strength": 1.0, "sharpen_enable": False, "clamp": False,
    "clamp_min": -10.0, "clamp_max": 10.0, "frame_seed_stride": 9973, "compute_device": None,
    "device_index": 0,
}


@executor("WASPerlinOptions")
def perlin_options(ctx: ExecContext, perlin_scale: Any, perlin_octaves: Any, perlin_persistence: Any,
                   perlin_lacunarity: Any, **_: Any) -> tuple:
    return ({"perlin_scale": float(perlin_scale), "perlin_octaves": int(perlin_octaves),
             "perlin_persistence": float(perlin_persistence), "perlin_lacunarity": float(perlin_lacunarity)},)


def _generator_device(opts: dict[str, Any]) -> torch.device:
    """The pack's ``_select_device`` with its default ``compute_device``."""
    pref = opts["compute_device"] or ("cuda" if torch.cuda.is_available() else "cpu")
    if pref == "cpu" or not torch.cuda.is_available() or pref not in ("cuda", "auto"):
        return torch.device("cpu")
    index = min(max(0, int(opts["device_index"])), torch.cuda.device_count() - 1)
    return torch.device(f"cuda:{index}")


def _field(h: int, w: int, pattern: str, opts: dict[str, Any], device: torch.device, dtype: torch.dtype,
           seed: int) -> torch.Tensor:
    if pattern == "perlin":
        m = perlin_noise(h, w, float(opts["perlin_scale"]), int(opts["perlin_octaves"]),
                         float(opts["perlin_persistence"]), float(opts["perlin_lacunarity"]), seed, device, dtype)
    elif pattern == "white_noise":
        rng = torch.Generator(device=device)
        rng.manual_seed(seed)
        m = torch.rand((1, 1, h, w), generator=rng, device=device, dtype=dtype)
    elif pattern == "checker":
        cs = max(2, int(opts["checker_size"]))
        yy = torch.arange(h, device=device).view(h, 1)
        xx = torch.arange(w, device=device).view(1, w)
        m = (((yy // cs) + (xx // cs)) % 2).to(dtype)
    else:  # solid
        m = torch.full((h, w), max(0.0, min(1.0, float(opts["solid_alpha"]))), device=device, dtype=dtype)
    m = m.view(1, 1, h, w)
    if float(opts["threshold"]) > 0.0:
        m = (m >= float(opts["threshold"])).to(m.dtype)
    if bool(opts["invert_mask"]):
        m = 1.0 - m
    return (m * float(opts["mask_strength"])).clamp(0.0, 2.0)


@executor("WASLatentAffine")
@torch.no_grad()
def latent_affine(ctx: ExecContext, latent: Any, scale: Any, bias: Any, pattern: Any, temporal_mode: Any,
                  seed: Any, external_mask: Any = None, noise_options: Any = None, options: Any = None,
                  **_: Any) -> tuple:
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise NodeInputError("latent", "latent: expected a LATENT")
    if pattern not in SUPPORTED:
        raise NodeInputError("pattern", f"pattern {pattern!r} is not reimplemented in wfrun "
                             f"(it computes {', '.join(SUPPORTED)})", "choose one of those")
    if external_mask is not None:
        raise NodeInputError("external_mask", "an external mask gating the pattern is not reimplemented in wfrun",
                             "disconnect external_mask")
    opts = dict(DEFAULTS)
    for name, given in (("options", options), ("noise_options", noise_options)):
        if given is not None and not isinstance(given, dict):
            raise NodeInputError(name, f"{name}: expected a DICT, found {type(given).__name__}")
        opts.update(given or {})
    if int(opts["blur_ksize"]) > 1 and float(opts["blur_sigma"]) > 0.0:
        raise NodeInputError("options", "blurring the mask (blur_ksize, blur_sigma) is not reimplemented in wfrun")
    if bool(opts["sharpen_enable"]):
        raise NodeInputError("options", "sharpening the mask (sharpen_enable) is not reimplemented in wfrun")
    if temporal_mode not in ("static", "per_frame"):
        raise NodeInputError("temporal_mode", f"temporal_mode: expected 'static' or 'per_frame', found {temporal_mode!r}")
    x = latent["samples"]
    device, dtype = x.device, x.dtype
    gen = _generator_device(opts)
    seed = int(seed)
    if x.ndim == 4:
        n, _, h, w = x.shape
        m = _field(h, w, pattern, opts, gen, dtype, seed).repeat(n, 1, 1, 1).to(device)
    elif x.ndim == 5:
        n, _, f, h, w = x.shape
        if temporal_mode == "static":
            m = _field(h, w, pattern, opts, gen, dtype, seed).unsqueeze(2).repeat(n, 1, f, 1, 1)
        else:
            stride = int(opts["frame_seed_stride"])
            frames = [_field(h, w, pattern, opts, gen, dtype, seed + i * stride) for i in range(f)]
            m = torch.stack(frames, dim=2).repeat(n, 1, 1, 1, 1)
        m = m.to(device)
    else:
        raise NodeInputError("latent", f"latent: samples of {x.ndim} dimensions; the pack takes [N,C,H,W] or "
                             "[N,C,F,H,W]")
    s = torch.as_tensor(scale, dtype=dtype, device=device)
    b = torch.as_tensor(bias, dtype=dtype, device=device)
    y = x * ((1.0 - m) + m * s) + b * m
    if bool(opts["clamp"]):
        y = y.clamp(float(opts["clamp_min"]), float(opts["clamp_max"]))
    out = dict(latent)
    out["samples"] = y
    if x.ndim == 4:
        mask = m.squeeze(1).clamp(0.0, 1.0).to(dtype)
    else:
        mask = m.squeeze(1).contiguous().view(n * f, h, w).clamp(0.0, 1.0).to(dtype)
    return out, mask
