"""The latent format of a Wan model's latents, by channel count: ComfyUI's ``Wan21`` (16
channels) or ``Wan22`` (48). LATENT values hold the VAE's raw posterior mean; the model
sees them normalised (``process_in``) — the formats themselves are family facts
(:mod:`wfrun.models.families.latent_formats`)."""

from __future__ import annotations

from wfrun.models.families import LATENT_FORMATS, LatentFormat


def latent_format(channels: int) -> LatentFormat:
    for fmt in LATENT_FORMATS.values():
        if fmt.channels == channels:
            return fmt
    raise ValueError(f"no Wan latent format has {channels} channels")
