"""The Wan VAE families: Wan 2.1's (16 latent channels, 4x8x8) and Wan 2.2's (48, 4x16x16).

Both are causal 3D VAEs that keep the first frame and fold each following 4 frames into
one latent frame. They differ in how they get there (Wan-Video/Wan2.2
``wan/modules/vae2_2.py`` against Wan2.1's ``vae.py``):

- Wan 2.2 first folds each 2x2 pixel block into channels (``patchify``: 3 → 12 channels),
  so its encoder's first convolution takes 12 channels and its decoder's last gives 12;
  after the encoder's 8x spatial reduction that makes 16 pixels per latent.
- Its encoder stages are *residual* down blocks: ``encoder.downsamples.<stage>`` holds a
  ``downsamples`` list of residual blocks and one resampler, plus a parameter-free
  averaging shortcut; the decoder's ``upsamples.<stage>.upsamples`` likewise (diffusers:
  ``is_residual=True``, ``WanResidualDownBlock``/``WanResidualUpBlock``).
- Its decoder is wider than its encoder (256 against 160 base channels).

ComfyUI's repackaged ``wan_2.1_vae`` / ``wan2.2_vae`` files keep these original names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wfrun.models.families.latent_formats import WAN21, WAN22, LatentFormat


@dataclass(frozen=True)
class VaeFamily:
    """One Wan VAE family: its latent shape, stride, layout facts and latent format."""

    name: str                       # what detection reports as the VAE's variant
    label: str
    latent_channels: int            # z_dim
    stride: tuple[int, int, int]    # (frames, height, width) per latent, first frame aside
    patch_size: int | None          # pixel folding before the encoder (None: none)
    base_dim: int                   # encoder base width of the released model
    decoder_base_dim: int
    residual: bool                  # residual down/up blocks (diffusers ``is_residual``)
    config_file: str                # bundled diffusers config with the structure
    latent_format: LatentFormat
    image_channels: int = 3

    @property
    def coded_channels(self) -> int:
        """Channels the encoder takes and the decoder gives (12 for Wan 2.2: RGB in 2x2 blocks)."""
        return self.image_channels * (self.patch_size or 1) ** 2

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """``(channels, latent frames, height, width)`` for a ``frames``-long video."""
        t, h, w = self.stride
        return (self.latent_channels, (frames - 1) // t + 1, height // h, width // w)


WAN21_VAE = VaeFamily("wan2.1", "Wan 2.1 VAE", 16, (4, 8, 8), None, 96, 96, False, "wan2.1_vae.json", WAN21)
WAN22_VAE = VaeFamily("wan2.2", "Wan 2.2 VAE", 48, (4, 16, 16), 2, 160, 256, True, "wan2.2_vae.json", WAN22)

VAE_FAMILIES: tuple[VaeFamily, ...] = (WAN21_VAE, WAN22_VAE)
_BY_NAME = {f.name: f for f in VAE_FAMILIES}


def vae_family(name: str) -> VaeFamily | None:
    """The VAE family detection named ``name`` (``wan2.1``/``wan2.2``; ``""`` is Wan 2.1)."""
    return _BY_NAME.get(name or "wan2.1")


def classify_vae(residual_blocks: bool, latent_channels: int) -> VaeFamily | None:
    """The family of a VAE with these parts (residual down blocks, z_dim), or None."""
    for family in VAE_FAMILIES:
        if family.residual == residual_blocks and family.latent_channels == latent_channels:
            return family
    return None


def vae_family_by_latent(latent_channels: int) -> VaeFamily | None:
    """The VAE family whose latents have ``latent_channels`` channels (16: Wan 2.1's, 48:
    Wan 2.2's): what a sampler holding only the transformer knows of its latents' stride."""
    for family in VAE_FAMILIES:
        if family.latent_channels == latent_channels:
            return family
    return None


_WAN22_NAME = re.compile(r"wan[-_. ]?2[-_. ]?2|wan22")


def vae_family_from_name(name: str) -> VaeFamily:
    """The VAE family a release name implies: ``wan2.2_vae`` / ``Wan2.2_VAE`` are Wan 2.2's,
    everything else (``wan_2.1_vae``, ``Wan2_1_VAE_bf16``) Wan 2.1's."""
    return WAN22_VAE if _WAN22_NAME.search(name.lower()) else WAN21_VAE
