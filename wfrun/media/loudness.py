"""Integrated loudness after ITU-R BS.1770-4 and loudness normalization, as ``pyloudnorm``
(``Meter(rate).integrated_loudness``, ``normalize.loudness``) computes them, written with
numpy and scipy so that wfrun needs no extra package for the nodes that use it
(ComfyUI-WanVideoWrapper's MultiTalkWav2VecEmbeds, ``normalize_loudness``: -23 LUFS, one
channel; its NormalizeAudioLoudness: up to five channels, weighted as below).

The measure, for one channel of samples at ``rate`` Hz:

* K-weighting: a high shelf (+4 dB, Q = 1/sqrt 2, 1500 Hz) then a high pass (Q 0.5, 38 Hz),
  each a biquad with the Audio-EQ-cookbook coefficients for the signal's own rate (as
  pyloudnorm builds them, rather than the standard's 48 kHz table);
* gating blocks of 400 ms every 100 ms (75 % overlap): block ``j`` spans samples
  ``int(0.4 j 0.25 rate) .. int(0.4 (j 0.25 + 1) rate)``; its loudness is
  ``-0.691 + 10 log10(mean square)``; ``round((n / rate - 0.4) / 0.1) + 1`` blocks;
* an absolute gate at -70 LKFS, then a relative gate 10 LU below the loudness of the
  blocks that passed it; the result is ``-0.691 + 10 log10`` of the mean square of the
  blocks that pass both (``-inf`` when none do: silence).
"""

from __future__ import annotations

import math

import numpy as np

BLOCK_SECONDS, OVERLAP = 0.4, 0.75
ABSOLUTE_GATE, RELATIVE_GATE = -70.0, -10.0
#: BS.1770 channel weights: left, right, centre, left surround, right surround.
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)


class LoudnessError(ValueError):
    """Audio the measure cannot take (shorter than one gating block)."""


def _biquad(kind: str, gain_db: float, q: float, fc: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
    a_gain = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * fc / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    if kind == "high_shelf":
        root = 2 * math.sqrt(a_gain) * alpha
        b = [a_gain * ((a_gain + 1) + (a_gain - 1) * cos + root), -2 * a_gain * ((a_gain - 1) + (a_gain + 1) * cos),
             a_gain * ((a_gain + 1) + (a_gain - 1) * cos - root)]
        a = [(a_gain + 1) - (a_gain - 1) * cos + root, 2 * ((a_gain - 1) - (a_gain + 1) * cos),
             (a_gain + 1) - (a_gain - 1) * cos - root]
    elif kind == "high_pass":
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    else:
        raise ValueError(kind)
    return np.array(b) / a[0], np.array(a) / a[0]


def k_weighted(samples: np.ndarray, rate: float) -> np.ndarray:
    """The K-weighting filters applied to ``samples`` (float64)."""
    from scipy.signal import lfilter

    x = np.asarray(samples, dtype=np.float64)
    for kind, gain, q, fc in (("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0)):
        b, a = _biquad(kind, gain, q, fc, rate)
        x = lfilter(b, a, x)
    return x


def integrated_loudness(samples: np.ndarray, rate: float) -> float:
    """Gated loudness in LUFS (``-inf`` for silence) of one channel ``[samples]`` or of up to
    five ``[samples, channels]``: each block's mean square is the channels' sum weighted by
    BS.1770's gains (1 for left, right, centre; 1.41 for the two surrounds), as pyloudnorm."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2:
        raise LoudnessError(f"samples [samples] or [samples, channels] expected, got shape {samples.shape}")
    if samples.shape[1] > len(CHANNEL_GAINS):
        raise LoudnessError(f"{samples.shape[1]} channels; the loudness measure takes at most {len(CHANNEL_GAINS)}")
    if samples.shape[0] < BLOCK_SECONDS * rate:
        raise LoudnessError(f"{samples.shape[0]} samples at {rate:g} Hz; the loudness measure needs at least "
                            f"{BLOCK_SECONDS:g} s")
    gains = np.asarray(CHANNEL_GAINS[:samples.shape[1]])
    x = np.stack([k_weighted(samples[:, c], rate) for c in range(samples.shape[1])])
    step = 1.0 - OVERLAP
    blocks = int(np.round((x.shape[1] / rate - BLOCK_SECONDS) / step)) + 1
    z = np.empty((x.shape[0], blocks))
    for j in range(blocks):
        low = int(BLOCK_SECONDS * (j * step) * rate)
        high = int(BLOCK_SECONDS * (j * step + 1) * rate)
        z[:, j] = np.sum(x[:, low:high] ** 2, axis=1) / (BLOCK_SECONDS * rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        levels = -0.691 + 10 * np.log10(gains @ z)
        passed = levels >= ABSOLUTE_GATE
        relative = (-0.691 + 10 * np.log10(gains @ z[:, passed].mean(axis=1)) + RELATIVE_GATE
                    if passed.any() else np.nan)
        gated = (levels > relative) & (levels > ABSOLUTE_GATE)
        mean = float(gains @ z[:, gated].mean(axis=1)) if gated.any() else 0.0
        return float(-0.691 + 10 * np.log10(mean))


def normalize(samples: np.ndarray, loudness: float, target: float) -> np.ndarray:
    """``samples`` scaled by the gain that moves ``loudness`` to ``target`` LUFS."""
    return np.asarray(samples) * (10.0 ** ((target - loudness) / 20.0))
