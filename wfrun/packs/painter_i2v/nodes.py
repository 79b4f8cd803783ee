"""PainterI2VforKJ (``painteri2v_for_kj.py``): WanVideoImageToVideoEncode plus a "motion
amplitude" that spreads the conditioning latents away from the first one.

The pack carries its own copy of the wrapper's encode node (as it was in mid 2025) and
adds one step after the start/end strengths: with ``motion_amplitude > 1`` and more than one
latent frame, each later latent frame ``x_t`` becomes
``first + (d_t - mean(d_t)) * motion_amplitude + mean(d_t)`` with ``d_t = x_t - first`` and
the mean over channels, height and width of that frame, clamped to [-6, 6]; the first
frame stays. That is applied to the 16 latent channels only (the wrapper's sampler puts
the 4 mask channels in front of them later), and after any ``extra_latents`` were put in
front (so their first frame is then the anchor, as in the pack).

Here the encode itself is the wrapper pack's WanVideoImageToVideoEncode executor (found in
the executor registry: packs do not import each other), run with strengths 1; then the
strengths as the pack applies them (the end strength only when there is more than one
latent frame) and the motion step on the latent channels. Without any image (and no
``add_cond_latents``) the node gives the wrapper's empty embeds, as the pack does.

Where the pack's copy cannot run, wfrun refuses by name instead of failing inside:
``end_image`` needs ``start_image`` and ``fun_or_fl2v_model`` off (otherwise the pack's
mask has a frame count the 4-frame grouping cannot take); ``temporal_mask`` (the pack's
copy drops the mask from the encoded frames, unlike the wrapper) and ``control_embeds``
with images (the pack leaves the latents unzeroed) are not supported. Difference: the
wrapper's reference noise (``noise_aug_strength`` above 0) leaves pixels that are exactly
-1 unnoised; the pack's copy noises every pixel. The first day's release (motion amplitude
as the last widget, 2025-11-12) did not clamp; the clamp of every later release is applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

#: The wrapper's conditioning puts this many mask channels before the latents (I2V models).
MASK_CHANNELS = 4
CLAMP = 6.0


def amplify_motion(latents: torch.Tensor, amplitude: float) -> torch.Tensor:
    """The pack's motion step on ``[C, T, H, W]`` latents (see the module docs)."""
    if amplitude <= 1.0 or latents.shape[1] <= 1:
        return latents
    first = latents[:, :1]
    diff = latents[:, 1:] - first
    mean = diff.mean(dim=(0, 2, 3), keepdim=True)
    rest = (first + (diff - mean) * amplitude + mean).clamp(-CLAMP, CLAMP)
    return torch.cat([first, rest], dim=1)


def _wrapper(class_type: str) -> Any:
    return builtin_executor(class_type, "vae")


@executor("PainterI2VforKJ")
def painter_i2v_for_kj(ctx: ExecContext, width: Any, height: Any, num_frames: Any, noise_aug_strength: Any,
                       start_latent_strength: Any, end_latent_strength: Any, force_offload: Any,
                       motion_amplitude: Any, fun_or_fl2v_model: Any, tiled_vae: Any, vae: Any = None,
                       clip_embeds: Any = None, start_image: Any = None, end_image: Any = None,
                       control_embeds: Any = None, temporal_mask: Any = None, extra_latents: Any = None,
                       add_cond_latents: Any = None, **_: Any) -> tuple:
    if start_image is None and end_image is None and add_cond_latents is None:
        return _wrapper("WanVideoEmptyEmbeds")(ctx, width=int(width), height=int(height), num_frames=int(num_frames),
                                               control_embeds=control_embeds, extra_latents=extra_latents)
    if vae is None:
        raise NodeInputError("vae", "PainterI2VforKJ needs a WANVAE to encode the images", "connect a WanVideoVAELoader")
    if add_cond_latents is not None:
        raise NodeInputError("add_cond_latents", "additional cond latents are not supported by wfrun")
    if end_image is not None and (start_image is None or fun_or_fl2v_model):
        raise NodeInputError("end_image", "PainterI2VforKJ takes an end image only with a start image and "
                             "fun_or_fl2v_model off (the pack's mask cannot be built otherwise)",
                             "turn fun_or_fl2v_model off and connect a start image, or use WanVideoImageToVideoEncode")
    if temporal_mask is not None:
        raise NodeInputError("temporal_mask", "a temporal mask on PainterI2VforKJ is not supported by wfrun",
                             "use WanVideoImageToVideoEncode for masked frames")
    if control_embeds is not None:
        raise NodeInputError("control_embeds", "control embeds with images on PainterI2VforKJ are not supported "
                             "by wfrun", "use WanVideoImageToVideoEncode for Fun control")
    embeds, = _wrapper("WanVideoImageToVideoEncode")(
        ctx, vae=vae, width=width, height=height, num_frames=num_frames, noise_aug_strength=noise_aug_strength,
        start_latent_strength=1.0, end_latent_strength=1.0, force_offload=force_offload, clip_embeds=clip_embeds,
        start_image=start_image, end_image=end_image, control_embeds=None, fun_or_fl2v_model=bool(fun_or_fl2v_model),
        temporal_mask=None, extra_latents=extra_latents, tiled_vae=tiled_vae, add_cond_latents=None)
    y = embeds.image_embeds
    mask, latents = y[:MASK_CHANNELS], y[MASK_CHANNELS:].clone()
    latents[:, :1] *= float(start_latent_strength)
    if latents.shape[1] > 1:
        latents[:, -1:] *= float(end_latent_strength)
    latents = amplify_motion(latents, float(motion_amplitude))
    return (dataclasses.replace(embeds, image_embeds=torch.cat([mask, latents])),)
