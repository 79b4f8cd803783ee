"""Time-to-Move (TTM, https://github.com/time-to-move/TTM) in WanVideoSampler, as the wrapper
runs it (``WanVideoAddTTMLatents`` in ``nodes.py``, its sampler's ``ttm_*`` handling, from
2025-11-16): a reference video (the motion the user drew or cut and pasted) is held inside a
mask while the model denoises, then let go.

- The node keeps every 4th mask frame (one per latent frame) and scales it with *nearest*
  to the latent size (/8, /16 for a 48-channel Wan 2.2 VAE latent): :func:`latent_mask`.
- The sampler makes the window relative to its own step range: ``start = max(start_step -
  sampler_start, 0)``, ``end = end_step - sampler_start`` (:func:`window`); a start past the
  steps is an error. The loop walks the timesteps from ``start`` on whatever ``end`` is (the
  first ``start`` steps are skipped even when the window is empty). When ``end > start`` the
  initial latents are the reference noised to the first timestep walked:
  ``(1 - t/1000)·ref + t/1000·noise`` (:func:`noised`).
- After the scheduler's step at walked step ``idx`` (absolute step ``k = idx + start``),
  while ``k < end``: inside the mask the latents become the reference noised to the next
  timestep ``k + 1`` with the same noise (the clean reference after the last timestep);
  outside they keep the step's result (:func:`inject`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Pixels per latent cell of a Wan 2.1 VAE latent, and of Wan 2.2's 48-channel one.
WAN21_STRIDE, WAN22_STRIDE = 8, 16


class TTMError(ValueError):
    """TTM inputs that do not fit the video."""


def latent_mask(mask: torch.Tensor, latent_channels: int) -> torch.Tensor:
    """MASK ``[F, H, W]`` → ``[1, T, H/s, W/s]`` float: every 4th frame, nearest-scaled by
    the VAE's stride ``s`` (16 for 48 latent channels, else 8)."""
    if mask.ndim != 3:
        raise TTMError(f"expected a MASK [frames, height, width], got shape {tuple(mask.shape)}")
    stride = WAN22_STRIDE if int(latent_channels) == 48 else WAN21_STRIDE
    sampled = mask[::4].float()
    h, w = sampled.shape[-2] // stride, sampled.shape[-1] // stride
    if h < 1 or w < 1:
        raise TTMError(f"a mask of {mask.shape[-1]}x{mask.shape[-2]} pixels is smaller than one latent cell")
    scaled = F.interpolate(sampled.unsqueeze(1), size=(h, w), mode="nearest")  # [T, 1, h, w]
    return scaled.movedim(1, 0).contiguous()


def window(start_step: int, end_step: int, sampler_start: int, steps: int) -> tuple[int, int]:
    """The node's window relative to the sampler's first step: ``(start, end)``."""
    start = max(int(start_step) - int(sampler_start), 0)
    end = int(end_step) - int(sampler_start)
    if start > int(steps):
        raise TTMError(f"TTM start step {start_step} is beyond the {steps} steps the sampler runs")
    if start == int(steps) and end > start:  # the pack indexes the timestep there and fails
        raise TTMError(f"TTM start step {start_step} is the sampler's end ({steps} steps): no step is left to "
                       "start from the noised reference")
    return start, end


def noised(reference: torch.Tensor, noise: torch.Tensor, timestep: torch.Tensor | float) -> torch.Tensor:
    """The reference at a flow-matching timestep (0..1000): ``(1 - t/1000)·ref + t/1000·noise``."""
    sigma = float(timestep) / 1000.0
    return (1.0 - sigma) * reference + sigma * noise


def inject(latent: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor,
           timesteps: torch.Tensor, step: int, end: int) -> torch.Tensor:
    """The latents after absolute step ``step``: inside ``mask`` the reference noised to
    timestep ``step + 1`` (clean after the last), while ``step < end``; unchanged after."""
    if step >= end:
        return latent
    mask = mask.to(latent)
    target = noised(reference, noise, timesteps[step + 1]) if step + 1 < len(timesteps) else reference
    return latent * (1 - mask) + target.to(latent) * mask


def check_fits(reference: torch.Tensor, mask: torch.Tensor, latent: torch.Tensor) -> None:
    """The reference and mask must cover the video's latents ``[C, T, H, W]``."""
    if tuple(reference.shape) != tuple(latent.shape):
        raise TTMError(f"reference latents of shape {tuple(reference.shape)} for a video of {tuple(latent.shape)}",)
    if mask.shape[0] != 1 or tuple(mask.shape[1:]) != tuple(latent.shape[1:]):
        raise TTMError(f"a motion mask of {tuple(mask.shape[1:])} (latent frames, height, width) for a video of "
                       f"{tuple(latent.shape[1:])}")
