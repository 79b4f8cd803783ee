"""Where KSampler's randomness comes from, so a seed gives ComfyUI's noise.

- The initial noise (:func:`prepare_noise`, ComfyUI's ``comfy.sample.prepare_noise``): one
  ``torch.randn`` of the latent's shape and dtype on the CPU generator seeded with ``seed``.
  With a ``batch_index`` list (latents cut from a batch), noise is drawn sample by sample up to
  the largest index and each sample takes the draw of its own index, so a latent picked out
  of a batch gets the noise it had in the batch. With ``add_noise`` disabled
  (KSamplerAdvanced) the noise is zeros.
- The per-step noise of ancestral and most stochastic samplers (:func:`default_noise_sampler`):
  a ``torch.Generator`` on the latent's device seeded with ``seed`` (``seed + 1`` on the CPU,
  so the step noise is not the initial noise again); one ``randn`` of the latent's shape per
  call. CPU and GPU therefore give different step noise, as in ComfyUI.
- The DPM++ SDE family (:class:`BrownianTreeNoiseSampler`): increments of a
  ``torchsde.BrownianTree`` between two sigmas, seeded with ``seed`` and normalised by
  ``sqrt(|t1 - t0|)``; ``cpu=True`` builds the tree on the CPU (``dpmpp_sde``,
  ``dpmpp_2m_sde``, ``dpmpp_3m_sde``), ``cpu=False`` on the latent's device (the ``_gpu``
  variants). torchsde is imported only when such a sampler runs.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def prepare_noise(latent: torch.Tensor, seed: int, batch_index: Sequence[int] | None = None, *,
                  disable_noise: bool = False) -> torch.Tensor:
    """KSampler's initial noise for ``latent`` (CPU tensor of the latent's shape and dtype)."""
    if disable_noise:
        return torch.zeros(latent.size(), dtype=latent.dtype, layout=latent.layout, device="cpu")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seed))
    if batch_index is None:
        return torch.randn(latent.size(), dtype=latent.dtype, layout=latent.layout,
                           generator=generator, device="cpu")
    unique, inverse = np.unique(np.asarray(batch_index), return_inverse=True)
    wanted = set(int(i) for i in unique)
    draws = []
    for i in range(int(unique[-1]) + 1):
        draw = torch.randn([1] + list(latent.size())[1:], dtype=latent.dtype, layout=latent.layout,
                           generator=generator, device="cpu")
        if i in wanted:
            draws.append(draw)
    return torch.cat([draws[int(i)] for i in np.asarray(inverse).reshape(-1)], dim=0)


#: The largest seed a torch generator takes (ComfyUI's seed widgets stop there too).
MAX_SEED = 0xFFFF_FFFF_FFFF_FFFF


class SeedOverflowError(ValueError):
    """The step noise's seed (``seed + 1`` on the CPU) is past what a torch generator takes."""


def default_noise_sampler(x: torch.Tensor, seed: int | None = None) -> NoiseSampler:
    """Fresh Gaussian noise shaped like ``x`` per call, from a generator seeded as ComfyUI seeds it.

    On the CPU at the largest seed, ``seed + 1`` is past what ``manual_seed`` takes: ComfyUI
    fails there (torch's "Overflow when unpacking long long"); :class:`SeedOverflowError`
    lets the node name its seed input."""
    generator = None
    if seed is not None:
        if x.device == torch.device("cpu"):
            seed += 1
            if seed > MAX_SEED:
                raise SeedOverflowError(f"seed {seed - 1}: ComfyUI seeds the CPU step noise with seed + 1, "
                                        "past the largest seed a torch generator takes (ComfyUI fails there too)")
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(seed))

    def sample(sigma, sigma_next):
        return torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device, generator=generator)

    return sample


def _torchsde():
    try:
        import torchsde
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the DPM++ SDE samplers draw their noise from torchsde's BrownianTree, as ComfyUI does; "
            "install it with `pip install torchsde`") from exc
    return torchsde


class BrownianTreeNoiseSampler:
    """Normalised Brownian increments between two sigmas (one tree per seed, ComfyUI's batching)."""

    def __init__(self, x: torch.Tensor, sigma_min, sigma_max, seed: int | Sequence[int] | None = None,
                 cpu: bool = True):
        torchsde = _torchsde()
        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        self.sign = 1
        if not t0 < t1:
            t0, t1, self.sign = t1, t0, -1
        w0 = torch.zeros_like(x)
        self.batched = isinstance(seed, (tuple, list))
        if seed is None:
            seeds: Sequence[int] = (int(torch.randint(0, 2 ** 63 - 1, ()).item()),)
        elif self.batched:
            if len(seed) != x.shape[0]:
                raise ValueError("one seed per batch item is needed for a batched Brownian tree")
            seeds, w0 = seed, w0[0]
        else:
            seeds = (seed,)
        self.cpu = cpu
        if cpu:
            t0, w0, t1 = t0.detach().cpu(), w0.detach().cpu(), t1.detach().cpu()
        self.trees = tuple(torchsde.BrownianTree(t0, w0, t1, entropy=s) for s in seeds)

    def _increment(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sign = 1
        if not a < b:
            a, b, sign = b, a, -1
        device, dtype = a.device, a.dtype
        if self.cpu:
            a, b = a.detach().cpu().float(), b.detach().cpu().float()
        w = torch.stack([tree(a, b) for tree in self.trees]).to(device=device, dtype=dtype)
        w = w * (self.sign * sign)
        return w if self.batched else w[0]

    def __call__(self, sigma, sigma_next) -> torch.Tensor:
        a, b = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        return self._increment(a, b) / (b - a).abs().sqrt()
