"""The latents a Wan transformer denoises, and Wan 2.2 TI2V-5B's image conditioning by
latent frames, as ComfyUI-WanVideoWrapper's sampler does it (``nodes.py``, 2025-07-29 to
2025-08-04: ``is_5b``, ``latents_to_insert``).

- **Latent geometry**: the pack tells the 5B model by its 48 output channels (``is_5b =
  transformer.out_dim == 48``) and then draws 48-channel noise at half the height and width
  of WanVideoEmptyEmbeds' ``target_shape`` (which is always worked out at the Wan 2.1 VAE's
  /8). wfrun asks the VAE family of the model's latents (``models.families``): the Wan 2.2
  VAE's 16 pixels per latent are twice the /8 the embeds assume.
- **Image conditioning** of a Wan 2.2 VAE model: WanVideoEncode's latents of the start
  image (``extra_latents`` of WanVideoEmptyEmbeds) *replace* the noise of the first latent
  frames; each step gives the model one timestep per latent frame with 0 on those frames,
  and the scheduler steps only the other frames (with the step's single timestep), so the
  given frames stay exactly as encoded. That is what the official Wan 2.2 ``TI2V`` code
  does with its noise mask (``wan/textimage2video.py``: ``latent = (1 - mask2) * z + mask2
  * noise``, per-token timestep ``mask2 * t``, the first frame put back after each step).
  The pack steps the other frames alone since 2025-08-01 ("Allow other schedulers for 5B");
  before, it handed the per-frame timestep to the scheduler, which only its
  ``flowmatch_pusa`` scheduler took (that one leaves frames at timestep 0 unchanged, so the
  result is the same), and wfrun uses the later rule for every scheduler.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from wfrun.models.families.wan_vae import WAN21_VAE, WAN22_VAE, vae_family_by_latent


def latent_channels(transformer: Any) -> int:
    """Channels of the latents the transformer denoises (its output channels)."""
    config = transformer.config
    out = getattr(config, "out_channels", None)
    return int(out if out else config.in_channels)


def embeds_scale(transformer: Any) -> int:
    """How many times coarser the model's latents are than the /8 grid of the pack's embeds
    (1 for Wan 2.1 VAE latents, 2 for Wan 2.2's)."""
    family = vae_family_by_latent(latent_channels(transformer)) or WAN21_VAE
    return family.stride[1] // WAN21_VAE.stride[1]


def holds_clean_frames(transformer: Any, extra_latents: Any) -> bool:
    """Whether given latent frames are held clean with timestep 0 (the pack's ``is_5b`` and
    ``extra_latents``): a model denoising Wan 2.2 VAE latents, given encoded frames."""
    return extra_latents is not None and latent_channels(transformer) == WAN22_VAE.latent_channels


def clean_frames(latent_len: int, extra_count: int, empty_idx: Sequence[int] | None) -> list[int]:
    """The latent frames given as encoded latents: all but the empty ones when WanVideoEncode
    found black frames, else the leading ``extra_count``."""
    if empty_idx:
        return [i for i in range(latent_len) if i not in set(empty_idx)]
    return list(range(min(extra_count, latent_len)))


def step_noisy_frames(stepper: Any, noise_pred: torch.Tensor, t: torch.Tensor, latent: torch.Tensor,
                      clean: Sequence[int], generator: torch.Generator | None = None) -> torch.Tensor:
    """One scheduler step of the frames not in ``clean`` (``[C, F, H, W]`` latents, step
    timestep ``t``); the clean frames come back unchanged."""
    noisy = [i for i in range(latent.shape[1]) if i not in set(clean)]
    out = latent.clone().float()
    if noisy:
        stepped = stepper.step(noise_pred[:, noisy].unsqueeze(0).to(latent.device), t,
                               latent[:, noisy].unsqueeze(0), generator=generator)
        out[:, noisy] = stepped.squeeze(0).float()
    return out
