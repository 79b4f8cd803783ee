"""Wan22StoryboardGGUF (``wan_storyboard_node.py``, the pack's one version, 2025-12-26): a
TI2V-5B latent whose frames at the given images are kept by the sampler (``noise_mask`` 0).

As the pack:

- Frames: ``int(length_seconds * fps) + 1`` cut down to 4n+1; latent frames ``(n - 1)//4 + 1``
  at ``height//16 x width//16``, 48 channels (the Wan 2.2 VAE's; the pack writes both
  numbers in, so another VAE's encoding cannot fill it: refused here on ``vae``, where the
  pack fails; with no image the VAE is never used).
- The images connected, in the order start, middle 1, middle 2, end, are spread evenly over
  the pixel frames (``int(i * (frames - 1) / (count - 1))``; one image goes to frame 0);
  each one's first picture, resized bilinearly with a centre crop to ``width x height`` and
  VAE-encoded alone, fills the latent frame ``frame // 4`` (at most the last), whose mask
  goes to 0. With two or more images the last one also fills the last two latent frames.
- Frames left to make hold the Wan 2.2 latent format's normalised zero (its
  ``process_out``), the filled ones the raw encoding, as core's Wan22ImageToVideoLatent;
  the latent and its mask are repeated ``batch_size`` times.
- ``positive`` and ``negative`` are required but not used; nothing is returned for them.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.models.families import WAN22
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

CHANNELS, RATIO = 48, 16
SLOTS = ("start_image", "middle_image_1", "middle_image_2", "end_image")


def frame_counts(length_seconds: float, fps: int) -> tuple[int, int]:
    """(pixel frames, latent frames) of the pack's arithmetic."""
    raw = int(float(length_seconds) * int(fps)) + 1
    total = ((raw - 1) // 4) * 4 + 1
    return total, (total - 1) // 4 + 1


def placements(count: int, total_frames: int) -> list[int]:
    """The pixel frame of each of ``count`` images."""
    if count > 1:
        return [int(i * (total_frames - 1) / (count - 1)) for i in range(count)]
    return [0]


@executor("Wan22StoryboardGGUF")
def wan22_storyboard(ctx: ExecContext, vae: Any, width: int, height: int, length_seconds: float, fps: int,
                     batch_size: int, positive: Any = None, negative: Any = None, start_image: Any = None,
                     middle_image_1: Any = None, middle_image_2: Any = None, end_image: Any = None,
                     **_: Any) -> tuple:
    total, t_dim = frame_counts(length_seconds, fps)
    w, h = int(width), int(height)
    latent = torch.zeros(1, CHANNELS, t_dim, h // RATIO, w // RATIO)
    mask = torch.ones(1, 1, t_dim, h // RATIO, w // RATIO)
    images = [(name, img) for name, img in zip(SLOTS, (start_image, middle_image_1, middle_image_2, end_image))
              if img is not None]
    for i, ((name, img), frame) in enumerate(zip(images, placements(len(images), total))):
        if not isinstance(img, torch.Tensor) or img.ndim != 4 or img.shape[0] == 0:
            raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, channels]")
        index = min(frame // 4, t_dim - 1)
        ready = upscale_image(img[:1].float(), w, h, "bilinear", "center")
        encoded = builtin_executor("VAEEncode", "vae")(ctx, pixels=ready[..., :3], vae=vae)[0]["samples"][:, :, :1]
        if tuple(encoded.shape[1:2]) != (CHANNELS,) or encoded.shape[-2:] != latent.shape[-2:]:
            raise NodeInputError("vae", f"this node builds a Wan 2.2 TI2V-5B latent ({CHANNELS} channels, "
                                 f"{tuple(latent.shape[-2:])}); {name} encodes to {encoded.shape[1]} channels, "
                                 f"{tuple(encoded.shape[-2:])}", "load the Wan 2.2 VAE (wan2.2_vae.safetensors) "
                                 "and use a width and height that are multiples of 16")
        latent[:, :, index:index + 1] = encoded
        mask[:, :, index:index + 1] = 0.0
        if i == len(images) - 1 and len(images) > 1:
            latent[:, :, max(0, t_dim - 2):t_dim] = encoded
            mask[:, :, max(0, t_dim - 2):t_dim] = 0.0
    processed = WAN22.process_out(latent) * mask + latent * (1.0 - mask)
    n = int(batch_size)
    return ({"samples": processed.repeat(n, 1, 1, 1, 1), "noise_mask": mask.repeat(n, 1, 1, 1, 1)},)
