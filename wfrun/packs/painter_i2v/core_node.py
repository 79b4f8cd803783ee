"""PainterI2V (princepainter/ComfyUI-PainterI2V, ``nodes.py``): ComfyUI's WanImageToVideo
for one start image, with the same "motion amplitude" as PainterI2VforKJ applied to the
conditioning latents, and the start image's latent attached as a reference.

What the pack's node gives, in ComfyUI's terms:

- ``latent``: zeros ``[batch_size, 16, (length - 1) // 4 + 1, height // 8, width // 8]``
  (Wan 2.1's VAE shape, whatever VAE is given);
- with a ``start_image`` (its first frame, resized bilinear/center to width x height):
  ``concat_latent_image`` = the VAE latents of that frame followed by ``length - 1`` grey
  (0.5) frames, the later latent frames moved by :func:`amplify_motion` (the same step as
  the KJ variant's, on every batch item); ``concat_mask`` 0 on the first latent frame, 1
  elsewhere; ``reference_latents`` appended: the frame's own latent on the positive, zeros
  of its shape on the negative;
- ``clip_vision_output`` on both when given.

This is exactly WanImageToVideo given only that first frame (same grey video, same mask),
so that core executor builds the base (found in the executor registry: packs do not import
each other) and this module adds the motion step and the reference. A VAE with other latent
shapes (Wan 2.2's 48 channels, /16) is refused by name: the pack's fixed 16-channel /8 latent
would not fit the encoded frames.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.packs.painter_i2v.nodes import amplify_motion

#: The pack's latent: Wan 2.1 VAE channels and spatial stride, fixed in its code.
LATENT_CHANNELS = 16
STRIDE = 8


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "vae")


def _concat(conditioning: list) -> torch.Tensor:
    return conditioning[0][1]["concat_latent_image"]


def start_frame_conditioning(ctx: ExecContext, node: str, positive: Any, negative: Any, vae: Any, width: Any,
                             height: Any, length: Any, batch_size: Any, clip_vision_output: Any,
                             start_image: torch.Tensor | None, clip_input: str = "clip_vision_output") -> tuple:
    """The part princepainter's I2V nodes share: WanImageToVideo on the first frame of
    ``start_image`` (a Wan 2.1 VAE required, refused by name for ``node``), and the resized
    frame's own latent. Gives ``(positive, negative, latent, concat, reference)``; the last
    two are None without a start image, else ``concat`` is the unmoved concat latent.
    ``clip_input`` is the node's name for the CLIP vision input, used in errors."""
    first = None if start_image is None else start_image[:1]
    try:
        positive, negative, latent = _core("WanImageToVideo")(
            ctx, positive=positive, negative=negative, vae=vae, width=width, height=height, length=length,
            batch_size=batch_size, clip_vision_output=clip_vision_output, start_image=first)
    except NodeInputError as err:
        if err.input_name != "clip_vision_output" or clip_input == err.input_name:
            raise
        raise NodeInputError(clip_input, str(err), err.hint) from None
    samples = latent["samples"]
    if samples.shape[1] != LATENT_CHANNELS or samples.shape[-2] != int(height) // STRIDE:
        raise NodeInputError("vae", f"{node} makes Wan 2.1 VAE latents (16 channels, 1/8 size); this VAE's "
                             "differ", f"use the Wan 2.1 VAE (wan_2.1_vae) with {node}")
    if first is None:
        return positive, negative, latent, None, None
    # the reference is the resized frame's own latent: the first frame of the grey video
    fitted = upscale_image(first.float(), int(width), int(height), "bilinear", "center")
    ref = _core("VAEEncode")(ctx, pixels=fitted[..., :3], vae=vae)[0]["samples"]
    return positive, negative, latent, _concat(positive), ref


def with_concat_and_reference(positive: Any, negative: Any, concat: torch.Tensor, ref: torch.Tensor) -> tuple:
    """Both conditionings with ``concat`` as their concat latent and the reference appended:
    the start frame's latent on the positive, zeros of its shape on the negative."""
    positive = set_values(positive, {"concat_latent_image": concat}, input_name="positive")
    negative = set_values(negative, {"concat_latent_image": concat}, input_name="negative")
    positive = set_values(positive, {"reference_latents": [ref]}, append=True, input_name="positive")
    negative = set_values(negative, {"reference_latents": [torch.zeros_like(ref)]}, append=True,
                          input_name="negative")
    return positive, negative


def spread_motion(concat: torch.Tensor, amplitude: float) -> torch.Tensor:
    """The motion step on every batch item of a ``[B, C, T, H, W]`` concat latent."""
    return torch.stack([amplify_motion(item, amplitude) for item in concat])


@executor("PainterI2V")
def painter_i2v(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: Any, height: Any, length: Any,
                batch_size: Any, motion_amplitude: Any, clip_vision_output: Any = None,
                start_image: torch.Tensor | None = None, **_: Any) -> tuple:
    positive, negative, latent, concat, ref = start_frame_conditioning(
        ctx, "PainterI2V", positive, negative, vae, width, height, length, batch_size, clip_vision_output,
        start_image)
    if concat is None:
        return (positive, negative, latent)
    positive, negative = with_concat_and_reference(positive, negative, spread_motion(concat, float(motion_amplitude)),
                                                   ref)
    return (positive, negative, latent)
