"""The Perlin mask of was_affine's ``perlin_noise`` (``utils.py``, later ``modules/utils.py``;
unchanged from 2025-09-02 to the newest stored commit, 2026-04-19).

One random gradient angle per lattice corner, drawn with ``torch.rand`` from a generator
seeded with ``seed`` on the generating device, octave after octave; each octave samples the
lattice on ``linspace(0, freq, size)`` with the quintic fade, octaves are summed with
amplitudes ``persistence**k`` at frequencies ``lacunarity**k`` times ``size / scale``
(at least 1), divided by the amplitudes' sum and stretched to 0 … 1.
"""

from __future__ import annotations

import math

import torch


def _octave(rng: torch.Generator, size_y: int, size_x: int, freq_y: float, freq_x: float,
            device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    gh = int(math.floor(freq_y)) + 1
    gw = int(math.floor(freq_x)) + 1
    theta = torch.rand((gh + 1, gw + 1), generator=rng, device=device, dtype=dtype) * 2 * math.pi
    grads = torch.stack((torch.cos(theta), torch.sin(theta)), dim=-1)
    y = torch.linspace(0, freq_y, steps=size_y, device=device, dtype=dtype)
    x = torch.linspace(0, freq_x, steps=size_x, device=device, dtype=dtype)
    yi, xi = y.floor().long(), x.floor().long()
    yf = (y - yi).unsqueeze(1).expand(size_y, size_x)
    xf = (x - xi).unsqueeze(0).expand(size_y, size_x)
    x0 = xi.unsqueeze(0).expand(size_y, size_x)
    y0 = yi.unsqueeze(1).expand(size_y, size_x)

    def corner(ix: torch.Tensor, iy: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
        g = grads[iy.clamp_max(gh), ix.clamp_max(gw)]
        return (g * torch.stack((dx, dy), dim=-1)).sum(dim=-1)

    n00 = corner(x0, y0, xf, yf)
    n10 = corner(x0 + 1, y0, xf - 1.0, yf)
    n01 = corner(x0, y0 + 1, xf, yf - 1.0)
    n11 = corner(x0 + 1, y0 + 1, xf - 1.0, yf - 1.0)

    def fade(t: torch.Tensor) -> torch.Tensor:
        return t * t * t * (t * (t * 6 - 15) + 10)

    u, v = fade(xf), fade(yf)
    nx0 = n00 * (1 - u) + n10 * u
    nx1 = n01 * (1 - u) + n11 * u
    return nx0 * (1 - v) + nx1 * v


def perlin_noise(h: int, w: int, scale: float, octaves: int, persistence: float, lacunarity: float, seed: int,
                 device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A [h, w] Perlin field in 0 … 1, as the pack computes it."""
    if scale <= 0:
        scale = 1.0
    rng = torch.Generator(device=device)
    rng.manual_seed(seed)
    yfreq, xfreq = max(h / scale, 1.0), max(w / scale, 1.0)
    amp, freq_mul, maxamp = 1.0, 1.0, 0.0
    total = torch.zeros((h, w), device=device, dtype=dtype)
    for _ in range(max(1, octaves)):
        total += amp * _octave(rng, h, w, yfreq * freq_mul, xfreq * freq_mul, device, dtype)
        maxamp += amp
        amp *= persistence
        freq_mul *= lacunarity
    total = total / maxamp if maxamp > 0 else total
    return (total - total.min()) / (total.max() - total.min() + 1e-12)
