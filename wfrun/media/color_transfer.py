"""Colour transfer between two images, as the ``color-matcher`` library does it (Hahne's
package, which KJNodes' ColorMatch and Easy-Use's ``easy imageColorMatch`` call), written
here with numpy (the library's wheel installs a top-level ``tests`` package that shadows a
project's own, so wfrun does not depend on it). Each function maps a source frame
``[height, width, 3]`` onto a reference frame's colours and returns float64:

* ``mkl``: the Monge-Kantorovich linear map of Pitié and Kokaram between the two colour
  Gaussians, ``T = Σr^-½ (Σr^½ Σz Σr^½)^½ Σr^-½`` (square roots by eigen-decomposition,
  negative eigenvalues clipped to 0 and ``eps`` added before inverting, as the library does),
  applied as ``T (x - μr) + μz`` over pixels (covariances with N-1).
* ``hm``: per-channel histogram matching, each source value mapped through the source's
  cumulative distribution to the reference value at the same quantile (linear between).
* ``reinhard``: Reinhard et al.'s transfer: RGB to log-LMS to lαβ with the paper's
  matrices, each channel shifted and scaled to the reference's mean and deviation, and
  back (zeros replaced by 1/255 first, for the logarithm); a flat frame raises
  ``FloatingPointError``.
* ``mvgd`` and ``hm-mvgd-hm``: both packs build ``ColorMatcher()`` without a method, and the
  library then picks the MKL solver for every multivariate transfer, so these give the
  same as ``mkl`` and ``hm-mkl-hm`` (histogram match, MKL, histogram match).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

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
