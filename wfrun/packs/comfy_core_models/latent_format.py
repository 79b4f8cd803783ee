"""ComfyUI's latent formats for Wan: LATENT values hold the VAE's raw posterior mean; the
model sees them normalised per channel (``process_in``: ``(x - mean) / std``) and
``process_out`` maps back. The numbers are the Wan VAE's own (diffusers' ``latents_mean``
/ ``latents_std``), which ComfyUI's ``Wan21``/``Wan22`` latent formats repeat.

Placeholder until the families registry owns latent formats: reads the bundled VAE config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wfrun.models.mapping import bundled_config


@dataclass(frozen=True)
class LatentFormat:
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def channels(self) -> int:
        return len(self.mean)

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1) + (1,) * (like.ndim - 2)
        return (torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape),
                torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape))

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(latent)
        return (latent - mean) / std

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(latent)
        return latent * std + mean


def latent_format(channels: int) -> LatentFormat:
    config = bundled_config("wan2.1_vae.json")
    if len(config["latents_mean"]) != channels:
        raise ValueError(f"no latent format for {channels} channels")
    return LatentFormat(tuple(config["latents_mean"]), tuple(config["latents_std"]))
