"""Wan 2.1 Fun-Camera in WanVideoSampler (ComfyUI-WanVideoWrapper from 2025-04-29, commit
77f78ce; VideoX-Fun's ``wan_camera_adapter.py``): Plücker rays from
WanVideoFunCameraEmbeds go through the model's ``control_adapter`` and are added to the
patch embedding of every call inside their step window (the forward does the adding:
``ForwardOptions.camera``).

What the sampler does with camera embeds, as the pack:

- the model has no control channels: the camera embeds carry no control latents, so the
  channels are the noise and the image conditioning (I2V: WanVideoImageToVideoEncode's
  latents without the mask, as it makes them when given ``control_embeds``; text-to-video:
  zeros of the latents' shape);
- the step window is the camera's own ``start_percent``/``end_percent``, and step 0 is
  inside whenever the camera's start is 0 and the *control* end percent is above 0 (the
  pack tests ``control_end_percent``, which camera embeds do not set: 1.0), so step 0
  always gets the camera when it starts at 0;
- context windows cut the rays to the window's latent frames.

The camera part of the model is detected by its modules (``control_adapter``), and its
channel layout comes from the family registry (:func:`camera_sampler_channels`).
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families.wan_transformer import SamplerChannels, camera_sampler_channels


class FunCameraError(ValueError):
    """Camera embeds that cannot condition this model or video."""


def has_camera_adapter(transformer: Any) -> bool:
    return getattr(transformer, "control_adapter", None) is not None


def layout(transformer: Any, in_channels: int, latent_channels: int) -> SamplerChannels | None:
    """The channel layout of a Fun-Camera model (None for any other model)."""
    if not has_camera_adapter(transformer):
        return None
    return camera_sampler_channels(in_channels, latent_channels)


def camera_rays(transformer: Any, control: Any) -> torch.Tensor | None:
    """The camera embeds' rays ``[1, 24, T, H, W]`` (None without any), checked against the
    model: a model without a camera adapter cannot take them, and rays with control latents
    (no such embeds in the pack) are refused."""
    rays = getattr(control, "camera", None) if control is not None else None
    if rays is None:
        return None
    if not has_camera_adapter(transformer):
        raise FunCameraError("Fun-Camera embeds need a Wan-Fun Control-Camera model (one with a camera adapter, "
                             "control_adapter)")
    if control.control_images is not None:
        raise FunCameraError("camera embeds together with control latents: a Fun-Camera model has no control "
                             "channels")
    return rays


def check_fits(transformer: Any, rays: torch.Tensor, noise: torch.Tensor) -> None:
    """One set of rays per latent frame, at the video's pixel size (the adapter folds
    ``downscale`` x ``downscale`` pixels into one latent)."""
    downscale = int(getattr(transformer.control_adapter.pixel_unshuffle, "downscale_factor", 8))
    frames, height, width = noise.shape[1:]
    want = (frames, height * downscale, width * downscale)
    if rays.ndim != 5 or tuple(rays.shape[2:]) != want:
        raise FunCameraError(f"camera rays of {tuple(rays.shape[2:])} (latent frames, pixel height, width) for a "
                             f"video of {want}: give WanVideoFunCameraEmbeds one pose per video frame and the "
                             "video's width and height")


def in_window(control: Any, pct: float, idx: int) -> bool:
    """The pack's camera window test (see the module docs)."""
    start, end = float(control.camera_start_percent), float(control.camera_end_percent)
    return (start <= pct <= end) or (float(control.end_percent) > 0 and idx == 0 and pct >= start)


def at_step(control: Any, rays: torch.Tensor | None, pct: float, idx: int) -> torch.Tensor | None:
    """The rays this step's calls get, or None outside the window."""
    if rays is None or not in_window(control, pct, idx):
        return None
    return rays


def window(rays: torch.Tensor | None, frames: list[int]) -> torch.Tensor | None:
    """The rays of one context window's latent frames."""
    return rays[:, :, frames] if rays is not None else None
