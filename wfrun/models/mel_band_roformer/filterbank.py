"""The mel filterbank and the band layout Mel-Band RoFormer derives from it.

The model splits the STFT bins into overlapping bands by the *support* of a mel filterbank
(``librosa.filters.mel`` with its defaults: Slaney's mel scale, Slaney area normalization,
0 Hz to Nyquist). Only which weights are positive matters, but that decides the width of
every band's input layer, so a checkpoint loads only when the layout is reproduced bin for
bin. librosa is not a dependency of wfrun, so the filterbank is computed here in float64
with numpy, in the same order of operations as librosa 0.10 (``np.fft.rfftfreq`` bin
frequencies, ``np.linspace`` over the mel range), which keeps the zero/non-zero pattern at
the band edges identical.

The model then forces two entries positive (the DC bin of the first band and the Nyquist bin
of the last, which Slaney's triangles leave at or within rounding of zero), as the pack's
model file does.
"""

from __future__ import annotations

import numpy as np
import torch

#: Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freqs: np.ndarray | float) -> np.ndarray:
    """Slaney mel of ``freqs`` Hz."""
    freqs = np.asanyarray(freqs, dtype=np.float64)
    mels = freqs / _F_SP
    log_part = freqs >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(freqs, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Hz of Slaney mel ``mels`` (the inverse of :func:`hz_to_mel`)."""
    mels = np.asanyarray(mels, dtype=np.float64)
    freqs = _F_SP * mels
    log_part = mels >= _MIN_LOG_MEL
    return np.where(log_part, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), freqs)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` float32 triangular filters on Slaney's mel scale, each
    scaled to unit area (``2 / (upper edge - lower edge)`` in Hz), as librosa's default."""
    if fmax is None:
        fmax = sample_rate / 2.0
    bins = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bins)
    weights = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for i in range(n_mels):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]
    return weights


def band_membership(sample_rate: int, n_fft: int, num_bands: int) -> torch.Tensor:
    """``[num_bands, n_fft // 2 + 1]`` booleans: which bins each band takes (the positive
    weights of :func:`mel_filterbank`, with the first band's DC bin and the last band's
    Nyquist bin forced in, as the pack does). Raises ValueError when a bin is left out."""
    weights = torch.from_numpy(mel_filterbank(sample_rate, n_fft, num_bands))
    weights[0, 0] = 1.0
    weights[-1, -1] = 1.0
    member = weights > 0
    if not bool(member.any(dim=0).all()):
        raise ValueError(f"a mel filterbank of {num_bands} bands at n_fft {n_fft} leaves some bins in no band")
    return member
