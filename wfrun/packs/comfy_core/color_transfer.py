"""ComfyUI's ColorTransfer ("Transfer Color", ``comfy_extras/nodes_post_processing.py`` at the
revision of our comfy-core specs): the target frames' colours matched to the reference's.
The SCAIL 2 character-replacement templates use it to keep a pasted character's colours.

Methods:

* ``reinhard_lab``: in L*a*b* (kornia's conversion, :mod:`wfrun.media.lab`), each channel
  shifted and scaled from the source's mean and deviation (population, floored at 1e-6) to
  the reference's.
* ``mkl_lab``: in L*a*b*, the Monge-Kantorovich linear map between the two colour
  Gaussians, ``T = Σs^-½ (Σs^½ Σr Σs^½)^½ Σs^-½`` (covariances over pixels, divided by the
  pixel count; square roots by eigen-decomposition with negative eigenvalues taken as 0 and
  the source's roots floored at 1e-6), ``x ↦ T (x - μs) + μr``.
* ``histogram``: per RGB channel, 256-bin histograms; each source bin maps to the first
  reference bin whose cumulative share reaches the source bin's (a look-up table of bin
  values ``k / 255``), pixels binned by ``floor(255 x)``.

``source_stats`` (a dynamic combo; its ``target_index`` arrives as
``source_stats.target_index``): ``per_frame`` takes each frame's own statistics (against
the reference frame of the same index, the last one past its end; one reference frame is
pooled), ``uniform`` pools all target frames into one transform, ``target_frame`` takes the
transform from one frame (its index clamped to the batch) and applies it to all. Pooled
statistics are ComfyUI's two-pass ones: the mean of the frame means, then the mean of each
frame's (co)variance about that mean.

``strength`` blends from the source (in Lab for the Lab methods, in RGB for the histogram)
to the matched result, extrapolating above 1; 0 returns the target unchanged. The result
is clipped to 0..1. The Lab methods need three-channel images (as kornia does); an RGBA
image is refused by name.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from wfrun.media.lab import lab_to_rgb, rgb_to_lab
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.values import choice_input, describe, float_input, image_input, int_input

METHODS = ("reinhard_lab", "mkl_lab", "histogram")
STATS = ("per_frame", "uniform", "target_frame")
EPS = 1e-6
BINS = 256

Stats = tuple[torch.Tensor, torch.Tensor]  # (mean [C, 1], deviation [C, 1] or covariance [C, C])


def _lab(images: torch.Tensor, i: int, device: Any) -> torch.Tensor:
    """Frame ``i`` in Lab as ``[C, pixels]``."""
    return rgb_to_lab(images[i].to(device, torch.float32).movedim(-1, 0)).reshape(3, -1)


def frame_stats(flat: torch.Tensor, reinhard: bool) -> Stats:
    mean = flat.mean(dim=-1, keepdim=True)
    centred = flat - mean
    if reinhard:
        return mean, centred.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(EPS)
    return mean, centred @ centred.T / flat.shape[-1]


def pooled_stats(images: torch.Tensor, device: Any, reinhard: bool) -> Stats:
    """The mean of the frame means, then the mean of each frame's spread about it."""
    frames = images.shape[0]
    mean = sum(_lab(images, i, device).mean(dim=-1, keepdim=True) for i in range(frames)) / frames
    spread = None
    for i in range(frames):
        centred = _lab(images, i, device) - mean
        part = centred.pow(2).mean(dim=-1, keepdim=True) if reinhard else centred @ centred.T / centred.shape[-1]
        spread = part if spread is None else spread + part
    assert spread is not None
    if reinhard:
        return mean, (spread / frames).sqrt().clamp_min(EPS)
    return mean, spread / frames


def mkl_matrix(cov_source: torch.Tensor, cov_ref: torch.Tensor) -> torch.Tensor:
    """``Σs^-½ (Σs^½ Σr Σs^½)^½ Σs^-½``, worked in the source covariance's eigenbasis."""
    values, vectors = torch.linalg.eigh(cov_source)
    root = values.clamp_min(0).sqrt().clamp_min(EPS)
    half = vectors * root  # columns scaled: V D^½
    inner_values, inner_vectors = torch.linalg.eigh(half.T @ cov_ref @ half)
    inner_root = (inner_vectors * inner_values.clamp_min(0).sqrt()) @ inner_vectors.T
    inverse_half = vectors / root  # V D^-½
    return inverse_half @ inner_root @ inverse_half.T


def _affine(source: Stats, ref: Stats, reinhard: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map taking the ``source`` statistics to the ``ref`` ones."""
    (s_mean, s_spread), (r_mean, r_spread) = source, ref
    if reinhard:
        scale = r_spread / s_spread
        return lambda flat: (flat - s_mean) * scale + r_mean
    matrix = mkl_matrix(s_spread, r_spread)
    return lambda flat: matrix @ (flat - s_mean) + r_mean


def _lab_transfer(target: torch.Tensor, ref: torch.Tensor, reinhard: bool, mode: str, index: int,
                  strength: float, device: Any) -> torch.Tensor:
    frames, height, width, _ = target.shape
    shared = None
    if ref.shape[0] == 1 or mode != "per_frame":
        ref_stats = pooled_stats(ref, device, reinhard)
    if mode == "uniform":
        shared = _affine(pooled_stats(target, device, reinhard), ref_stats, reinhard)
    elif mode == "target_frame":
        shared = _affine(frame_stats(_lab(target, min(index, frames - 1), device), reinhard), ref_stats, reinhard)
    out = torch.empty(target.shape, dtype=torch.float32)
    for i in range(frames):
        src = _lab(target, i, device)
        if shared is not None:
            corrected = shared(src)
        else:
            here = ref_stats if ref.shape[0] == 1 else frame_stats(_lab(ref, min(i, ref.shape[0] - 1), device),
                                                                   reinhard)
            corrected = _affine(frame_stats(src, reinhard), here, reinhard)(src)
        if strength != 1.0:
            corrected = torch.lerp(src, corrected, strength)
        out[i] = lab_to_rgb(corrected.reshape(3, height, width)).movedim(0, -1).clamp(0, 1).cpu()
    return out


def _bins(flat: torch.Tensor) -> torch.Tensor:
    return (flat * (BINS - 1)).long().clamp(0, BINS - 1)


def _cdf(frames: list[torch.Tensor]) -> torch.Tensor:
    """The cumulative share per channel of ``[C, pixels]`` frames pooled, ``[C, BINS]``."""
    hist = torch.zeros(frames[0].shape[0], BINS, dtype=torch.float32, device=frames[0].device)
    for flat in frames:
        hist.scatter_add_(1, _bins(flat), torch.ones_like(flat))
    cdf = hist.cumsum(1)
    return cdf / cdf[:, -1:]


def _lut(source_cdf: torch.Tensor, ref_cdf: torch.Tensor) -> torch.Tensor:
    return torch.searchsorted(ref_cdf.contiguous(), source_cdf.contiguous()).clamp_max(BINS - 1).float() / (BINS - 1)


def _histogram_transfer(target: torch.Tensor, ref: torch.Tensor, mode: str, index: int, strength: float,
                        device: Any) -> torch.Tensor:
    frames, height, width, channels = target.shape

    def flat(images: torch.Tensor, i: int) -> torch.Tensor:
        return images[i].to(device, torch.float32).movedim(-1, 0).reshape(channels, -1)

    shared = None
    if mode != "per_frame":
        ref_cdf = _cdf([flat(ref, i) for i in range(ref.shape[0])])
        picked = [min(index, frames - 1)] if mode == "target_frame" else range(frames)
        shared = _lut(_cdf([flat(target, i) for i in picked]), ref_cdf)
    out = torch.empty(target.shape, dtype=torch.float32)
    for i in range(frames):
        src = flat(target, i)
        lut = shared if shared is not None else _lut(_cdf([src]), _cdf([flat(ref, min(i, ref.shape[0] - 1))]))
        matched = lut.gather(1, _bins(src))
        if strength != 1.0:
            matched = torch.lerp(src, matched, strength)
        out[i] = matched.reshape(channels, height, width).movedim(0, -1).clamp(0, 1).cpu()
    return out


@executor("ColorTransfer")
def color_transfer(ctx: ExecContext, image_target: Any, image_ref: Any, method: Any, source_stats: Any,
                   strength: Any, **options: Any) -> tuple:
    target = image_input(image_target, "image_target")
    ref = image_input(image_ref, "image_ref")
    method = choice_input(method, "method", METHODS)
    mode = choice_input(source_stats, "source_stats", STATS)
    strength = float_input(strength, "strength", 0.0, 10.0)
    index = 0
    if mode == "target_frame":
        key = "source_stats.target_index"
        if key not in options:
            raise NodeInputError(key, f"'{key}' is not set", "set the widget (or save the workflow again in ComfyUI)")
        index = int_input(options[key], key, 0, 10000)
    if strength == 0:
        return (target,)
    if method == "histogram":
        if ref.shape[-1] != target.shape[-1]:
            raise NodeInputError("image_ref", f"image_ref has {ref.shape[-1]} channels, image_target "
                                 f"{target.shape[-1]}", "give both images the same channels")
        return (_histogram_transfer(target, ref, mode, index, strength, ctx.device),)
    for name, image in (("image_target", target), ("image_ref", ref)):
        if image.shape[-1] != 3:
            raise NodeInputError(name, f"{name}: {method} works on RGB images, found {describe(image)}",
                                 "drop the alpha channel first, or use the histogram method")
    return (_lab_transfer(target, ref, method == "reinhard_lab", mode, index, strength, ctx.device),)
