"""FreeInit (Wu et al., https://github.com/TianxingWu/FreeInit) as the wrapper's sampler runs
it with WanVideoFreeInitArgs (``nodes_sampler.py``, 2025-07 on): the whole sampling pass is
run ``num_iters`` times; before each pass after the first, the last result is diffused back
to timestep 999 with the first pass's initial latents (``0.001 x + 0.999 z0``), and its low
frequencies (3-D FFT over frames, height and width, centred) are kept while the high ones
come from fresh noise drawn from the sampler's generator.

The low-pass filter over a latent of ``T x H x W``, with ``d = ((d_s/d_t)(2t/T - 1))² +
(2h/H - 1)² + (2w/W - 1)²``: ``gaussian`` ``exp(-d / (2 d_s²))``, ``butterworth``
``1 / (1 + (d / d_s²)^n)``, ``ideal`` 1 where ``d <= 2 d_s`` (the pack's test, not ``d_s²``),
all 0 when ``d_s`` or ``d_t`` is 0.

As in the pack: its sampler reads the cut-offs under other names than the node gives them
(``freeinit_s``/``freeinit_t`` for the node's ``freeinit_d_s``/``freeinit_d_t``), so the
cut-offs are always 1.0 whatever the node says; the method ``none`` has no filter (the pack
fails on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: The methods that have a filter.
METHODS = ("butterworth", "ideal", "gaussian")


@dataclass(frozen=True)
class FreeInitArgs:
    """FREEINITARGS: the iterations and the filter the sampler uses (cut-offs as it reads them)."""

    num_iters: int = 3
    method: str = "ideal"
    n: int = 4
    d_s: float = 1.0
    d_t: float = 1.0


def low_pass_filter(shape: tuple[int, ...], args: FreeInitArgs) -> torch.Tensor:
    """The filter over the last three dimensions of ``shape``, broadcast to ``shape``."""
    t_len, h_len, w_len = shape[-3:]
    if args.d_s == 0 or args.d_t == 0:
        return torch.zeros(shape)
    t = (2 * torch.arange(t_len, dtype=torch.float64) / t_len - 1) * (args.d_s / args.d_t)
    h = 2 * torch.arange(h_len, dtype=torch.float64) / h_len - 1
    w = 2 * torch.arange(w_len, dtype=torch.float64) / w_len - 1
    d = t.view(-1, 1, 1) ** 2 + h.view(1, -1, 1) ** 2 + w.view(1, 1, -1) ** 2
    if args.method == "gaussian":
        mask = torch.exp(-d / (2 * args.d_s ** 2))
    elif args.method == "butterworth":
        mask = 1 / (1 + (d / args.d_s ** 2) ** args.n)
    elif args.method == "ideal":
        mask = (d <= args.d_s * 2).double()
    else:
        raise ValueError(f"no FreeInit filter {args.method!r}")
    return mask.float().expand(shape).clone()


def mix_frequencies(x: torch.Tensor, noise: torch.Tensor, low_pass: torch.Tensor) -> torch.Tensor:
    """``x``'s low frequencies and ``noise``'s high ones over the last three dimensions."""
    dims = (-3, -2, -1)
    x_freq = torch.fft.fftshift(torch.fft.fftn(x, dim=dims), dim=dims)
    noise_freq = torch.fft.fftshift(torch.fft.fftn(noise, dim=dims), dim=dims)
    mixed = x_freq * low_pass + noise_freq * (1 - low_pass)
    return torch.fft.ifftn(torch.fft.ifftshift(mixed, dim=dims), dim=dims).real


def reinitialize(latent: torch.Tensor, initial: torch.Tensor, low_pass: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
    """The next pass's starting latents: ``latent`` diffused to timestep 999 with ``initial``,
    its low frequencies mixed with fresh noise's high ones."""
    diffused = (1 - 0.999) * latent.float() + 0.999 * initial.float()
    fresh = torch.randn(diffused.shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)
    return mix_frequencies(diffused.cpu(), fresh, low_pass.cpu()).to(latent.device)
