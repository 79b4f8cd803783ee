"""How latents are scaled between a VAE and the transformer that denoises them.

The Wan VAEs encode to latents of a known per-channel mean and spread; the transformer is
trained on ``(latent - mean) / std``. ComfyUI keeps that step out of its VAE node and in a
*latent format* (``comfy/latent_formats.py``: ``Wan21``, ``Wan22``): ``VAEEncode`` returns
raw latents, the sampler calls ``process_in`` before the model and ``process_out`` after,
and nodes that build conditioning latents by hand (``Wan22FunControlToVideo``'s zero
latents, VACE's zero reference) call ``process_out`` on zeros. Kijai's wrapper folds the
same numbers into its VAE instead (``scale = [mean, 1/std]``). Both are these numbers; they
live here once, and the VAE families and the diffusers VAE configs read them.

Values: Wan 2.1 from Wan-Video/Wan2.1 ``wan/modules/vae.py`` (= diffusers'
``AutoencoderKLWan`` defaults); Wan 2.2 from Wan-Video/Wan2.2 ``wan/modules/vae2_2.py``.
Both use ``scale_factor`` 1.0, as ComfyUI's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LatentFormat:
    """Per-channel latent statistics and the two maps between VAE and model space."""

    name: str                     # ComfyUI's class name: Wan21, Wan22
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale_factor: float = 1.0
    spatial_downscale: int = 8    # pixels per latent, as ComfyUI's ``spacial_downscale_ratio``

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"{self.name}: {len(self.mean)} means and {len(self.std)} stds "
                             f"for {self.channels} channels")

    def _stats(self, latent: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        if latent.ndim < 2 or latent.shape[1] != self.channels:
            raise ValueError(f"{self.name} latents have {self.channels} channels (dim 1); "
                             f"got shape {list(latent.shape)}")
        shape = (1, self.channels) + (1,) * (latent.ndim - 2)
        mean = torch.tensor(self.mean, dtype=latent.dtype, device=latent.device).view(shape)
        std = torch.tensor(self.std, dtype=latent.dtype, device=latent.device).view(shape)
        return mean, std

    def process_in(self, latent: "torch.Tensor") -> "torch.Tensor":
        """VAE latents → what the transformer takes: ``(x - mean) * scale_factor / std``."""
        mean, std = self._stats(latent)
        return (latent - mean) * self.scale_factor / std

    def process_out(self, latent: "torch.Tensor") -> "torch.Tensor":
        """Transformer-space latents → what the VAE decodes: ``x * std / scale_factor + mean``."""
        mean, std = self._stats(latent)
        return latent * std / self.scale_factor + mean


WAN21 = LatentFormat(
    "Wan21", 16,
    mean=(-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
          0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921),
    std=(2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
         3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160),
    spatial_downscale=8,
)

WAN22 = LatentFormat(
    "Wan22", 48,
    mean=(-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
          -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
          -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
          -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
          -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
          0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667),
    std=(0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
         0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
         0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
         0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
         0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
         0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744),
    spatial_downscale=16,
)

LATENT_FORMATS = {f.name: f for f in (WAN21, WAN22)}
