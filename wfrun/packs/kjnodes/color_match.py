"""KJNodes' ColorMatch (``nodes/image_nodes.py``): each target frame's colours moved to the
reference's, as the ``color-matcher`` library the pack calls does it, written here with
numpy (the library's wheel installs a top-level ``tests`` package that shadows a project's
own, so wfrun does not depend on it):

* ``mkl``: the Monge-Kantorovich linear map of Pitié and Kokaram between the two colour
  Gaussians, ``T = Σr^-½ (Σr^½ Σz Σr^½)^½ Σr^-½`` (square roots by eigen-decomposition,
  negative eigenvalues clipped to 0 and ``eps`` added before inverting, as the library does),
  applied as ``T (x - μr) + μz`` over pixels (covariances with N-1).
* ``hm``: per-channel histogram matching, each source value mapped through the source's
  cumulative distribution to the reference value at the same quantile (linear between).
* ``reinhard``: Reinhard et al.'s transfer: RGB to log-LMS to lαβ with the paper's
  matrices, each channel shifted and scaled to the reference's mean and deviation, and
  back (zeros replaced by 1/255 first, for the logarithm).
* ``mvgd`` and ``hm-mvgd-hm``: the pack builds ``ColorMatcher()`` without a method, and the
  library then picks the MKL solver for every multivariate transfer, so these give the
  same as ``mkl`` and ``hm-mkl-hm`` (histogram match, MKL, histogram match).

Then, as the pack: strength ``s`` blends ``target + s * (mapped - target)``; strength 0
returns the targets untouched; results are clamped to 0..1. A reference of one frame serves
every target frame, else frame ``i`` uses reference frame ``i`` (a shorter reference batch
is an error here, an index error in the pack). A frame that cannot be mapped (a linear
algebra failure, or a flat frame for Reinhard) is kept as it was, with a warning, as the pack does. The oldest
signature's ``use_only_first`` takes the first reference frame for all; ``multithread``
only spreads frames over threads in the pack (same result). One difference: the library's
Reinhard step writes its zero replacement into the caller's arrays, so in ComfyUI the
target and reference tensors themselves change; wfrun leaves its inputs alone.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)

METHODS = ("mkl", "hm", "reinhard", "mvgd", "hm-mvgd-hm", "hm-mkl-hm")
#: Reinhard et al. (2001), RGB to LMS and the inverse as the paper prints it.
RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
LMS_TO_RGB = np.array([[4.4679, -3.5873, 0.1193], [-1.2186, 2.3809, -0.1624], [0.0497, -0.2439, 1.2045]])
#: log-LMS to lαβ (Ruderman et al.): a diagonal scaling after a sum/difference matrix.
_LAB_SCALE = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)])
_LAB_MIX = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]])


def _pixels(image: np.ndarray) -> np.ndarray:
    """[channels, pixels] in float64."""
    return image.reshape(-1, image.shape[-1]).T.astype(np.float64)


def mkl(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    r, z = _pixels(src), _pixels(ref)
    cov_r, cov_z = np.cov(r), np.cov(z)
    lam_r, vec_r = np.linalg.eigh(cov_r)
    root_r = np.sqrt(np.clip(lam_r, 0, None))
    inv_root_r = 1.0 / (root_r + np.spacing(1))
    middle = (vec_r * root_r).T @ cov_z @ (vec_r * root_r)  # Σr^½ Σz Σr^½ in Σr's eigenbasis
    lam_c, vec_c = np.linalg.eigh((middle + middle.T) / 2)
    sqrt_middle = (vec_c * np.sqrt(np.clip(lam_c, 0, None))) @ vec_c.T
    transfer = vec_r @ np.diag(inv_root_r) @ sqrt_middle @ np.diag(inv_root_r) @ vec_r.T
    mapped = transfer @ (r - r.mean(axis=1, keepdims=True)) + z.mean(axis=1, keepdims=True)
    return mapped.T.reshape(src.shape)


def histogram_match(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    out = np.empty(src.shape, dtype=np.float64)
    for ch in range(src.shape[-1]):
        values, inverse, counts = np.unique(src[..., ch].ravel(), return_inverse=True, return_counts=True)
        ref_values, ref_counts = np.unique(ref[..., ch].ravel(), return_counts=True)
        src_cdf = np.cumsum(counts) / counts.sum()
        ref_cdf = np.cumsum(ref_counts) / ref_counts.sum()
        out[..., ch] = np.interp(src_cdf, ref_cdf, ref_values)[inverse.ravel()].reshape(src.shape[:-1])
    return out


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    rgb = np.where(rgb == 0, 1 / 255, rgb)
    return _LAB_SCALE @ _LAB_MIX @ np.log10(RGB_TO_LMS @ rgb)


def reinhard(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    lab_s, lab_r = _to_lab(_pixels(src)), _to_lab(_pixels(ref))
    mean_s, std_s = lab_s.mean(axis=1, keepdims=True), lab_s.std(axis=1, keepdims=True)
    mean_r, std_r = lab_r.mean(axis=1, keepdims=True), lab_r.std(axis=1, keepdims=True)
    if float(std_s.min()) < 1e-9:  # a flat frame: no spread to scale (the library divides by ~0)
        raise FloatingPointError("the frame has a colour channel without spread")
    lab = (lab_s - mean_s) * (std_r / std_s) + mean_r
    lms = 10 ** (_LAB_MIX.T @ _LAB_SCALE @ lab)
    return (LMS_TO_RGB @ lms).T.reshape(src.shape)


def _chain(*steps: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
        for step in steps:
            src = step(src, ref)
        return src
    return run


TRANSFERS = {"mkl": mkl, "mvgd": mkl, "hm": histogram_match, "reinhard": reinhard,
             "hm-mkl-hm": _chain(histogram_match, mkl, histogram_match),
             "hm-mvgd-hm": _chain(histogram_match, mkl, histogram_match)}


def match_frame(target: np.ndarray, ref: np.ndarray, method: str, strength: float) -> np.ndarray:
    """One frame mapped and blended by ``strength``; unchanged when the mapping fails."""
    try:
        with np.errstate(divide="raise", invalid="raise"):
            result = TRANSFERS[method](target, ref)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError) as err:
        log.warning("ColorMatch: %s failed on a frame (%s); the frame is kept as it was", method, err)
        return target.astype(np.float64)
    if strength != 1:
        result = target + strength * (result - target)
    return result


def _batch(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] != 3:
        raise NodeInputError(name, f"expected an RGB IMAGE batch [frames, height, width, 3], got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
    return value.detach().cpu().float()


@executor("ColorMatch")
def color_match(ctx: ExecContext, image_ref: Any, image_target: Any, method: str, strength: float,
                use_only_first: bool = False, **_: Any) -> tuple:
    if method not in TRANSFERS:
        raise NodeInputError("method", f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    target = _batch("image_target", image_target)
    if strength == 0:
        return (image_target,)
    ref = _batch("image_ref", image_ref)
    if use_only_first:
        ref = ref[:1]
    if ref.shape[0] != 1 and ref.shape[0] < target.shape[0]:
        raise NodeInputError("image_ref", f"{ref.shape[0]} reference frames for {target.shape[0]} target frames",
                             "give one reference frame, or at least as many as the targets")
    frames = []
    for i in range(target.shape[0]):
        ctx.check_interrupt()
        r = ref[0 if ref.shape[0] == 1 else i].numpy()
        frames.append(torch.from_numpy(match_frame(target[i].numpy(), r, method, float(strength))))
    return (torch.stack(frames).to(torch.float32).clamp_(0, 1),)
