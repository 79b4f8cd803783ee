"""WanVideoIntegratedKSampler: prompt encoding, image-to-video conditioning, the high- and
low-noise expert passes and the VAE decode of a Wan 2.2 A14B run, in one node.

It is built from wfrun's core executors, called through the executor registry (packs do
not import each other), in the pack's order:

1. width and height are rounded up to multiples of 8;
2. both prompts through CLIPTextEncode;
3. ``sd3_shift`` > 0: ModelSamplingSD3 with that shift on both models;
4. no ``latent`` given: with no images, zeros ``[B, 16, T', H/8, W/8]`` (text to video);
   with a start image (and maybe an end image; an end image alone is refused, as in the
   pack), the images are cropped to the size (KJNodes' ImageResizeKJv2: crop, lanczos,
   centre, divisible by 2), placed first / last in a grey video, VAE-encoded as
   ``concat_latent_image`` with a per-frame ``concat_mask`` (0 on the start image and the
   3 slots after it, 0 on the end frames) — except that the low-noise expert's mask is 0.1,
   not 0, on the end frames (the pack's "a little freedom at the end"); a CLIP vision
   model adds the start and end images' penultimate states, joined along the tokens
   (CLIPVisionEncode, crop none). A given ``latent`` is sampled with the prompts alone;
5. the high-noise model runs steps ``0..steps_high_noise`` of ``steps_high + steps_low``
   with fresh noise from ``noise_seed``, its leftover noise kept; the low-noise model the
   rest, adding none, to the end (KSamplerAdvanced twice). A phase with 0 steps is skipped;
6. VAEDecode; the last frame is the second output, the sampled latent the third.

Differences: ``torch_enable_fp16_accumulation`` and ``sage_attention`` only change speed
(and rounding) in ComfyUI; wfrun keeps its own attention and matmul settings, so they are
ignored. ``enable_clean_gpu_memory``, ``enable_clean_cpu_memory_after_finish`` (wfrun's
engine frees memory itself) and ``enable_sound_notification`` (Windows beeps) do nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.conditioning import fold_frame_mask, set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

GREY = 0.5
#: The low-noise expert's mask on the end frames (the pack lets it move them a little).
LOW_NOISE_END_MASK = 0.1


def core(class_type: str) -> Any:
    return builtin_executor(class_type, "model_high_noise")


def _image(name: str, value: Any) -> torch.Tensor | None:
    if value is None:
        return None
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0 or value.shape[-1] not in (3, 4):
        raise NodeInputError(name, "expected an IMAGE batch [frames, height, width, 3]")
    return value.float()


def fit(ctx: ExecContext, image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The pack's resize: fill the size and crop the centre, lanczos, sides divisible by 2."""
    (out, *_) = core("ImageResizeKJv2")(ctx, image=image, width=width, height=height, upscale_method="lanczos",
                                        keep_proportion="crop", divisible_by=2, pad_color="0, 0, 0",
                                        crop_position="center", device="cpu")
    return out


def image_conditioning(ctx: ExecContext, vae: Any, start: torch.Tensor, end: torch.Tensor | None, width: int,
                       height: int, length: int, batch_size: int) -> tuple[dict, dict, torch.Tensor]:
    """``(values for the high-noise expert, values for the low-noise one, empty latent)``."""
    _, _, empty = core("WanImageToVideo")(ctx, positive=[], negative=[], vae=vae, width=width, height=height,
                                          length=length, batch_size=batch_size)
    latent = empty["samples"]
    start = fit(ctx, start, width, height)[:length]
    end = fit(ctx, end, width, height)[-length:] if end is not None else None
    video = torch.full((length, height, width, 3), GREY)
    mask = torch.ones(1, 1, latent.shape[2] * 4, latent.shape[-2], latent.shape[-1])
    video[:start.shape[0]] = start[..., :3]
    mask[:, :, :start.shape[0] + 3] = 0.0
    high_video, low_video, high_mask, low_mask = video, video.clone(), mask, mask.clone()
    if end is not None:
        high_video[-end.shape[0]:] = end[..., :3]
        low_video[-end.shape[0]:] = end[..., :3]
        high_mask[:, :, -end.shape[0]:] = 0.0
        low_mask[:, :, -end.shape[0]:] = LOW_NOISE_END_MASK
    encode = core("VAEEncode")
    values = []
    for pixels, m in ((high_video, high_mask), (low_video, low_mask)):
        (encoded,) = encode(ctx, pixels=pixels, vae=vae)
        values.append({"concat_latent_image": encoded["samples"], "concat_mask": fold_frame_mask(m)})
    return values[0], values[1], latent


def clip_vision_states(ctx: ExecContext, clip_vision: Any, images: list[torch.Tensor]) -> Any:
    """The images' CLIP vision outputs with their penultimate states joined along the tokens."""
    encode = core("CLIPVisionEncode")
    outputs = [encode(ctx, clip_vision=clip_vision, image=image, crop="none")[0] for image in images]
    states = torch.cat([o.penultimate_hidden_states for o in outputs], dim=-2)
    return dataclasses.replace(outputs[0], penultimate_hidden_states=states)


@executor("WanVideoIntegratedKSampler")
def wan_video_integrated_ksampler(ctx: ExecContext, model_high_noise: Any, model_low_noise: Any, clip: Any, vae: Any,
                                  positive_prompt: str, negative_prompt: str, batch_size: int, length: int,
                                  width: int, height: int, steps_high_noise: int, cfg_high_noise: float,
                                  steps_low_noise: int, cfg_low_noise: float, noise_seed: int, sampler_name: str,
                                  scheduler: str, sd3_shift: float, start_image: Any = None,
                                  end_image: Any = None, clip_vision: Any = None, latent: Any = None,
                                  **_: Any) -> tuple:
    width, height, length, batch_size = int(width), int(height), int(length), int(batch_size)
    steps_high, steps_low = int(steps_high_noise or 0), int(steps_low_noise or 0)
    if width <= 0 or height <= 0:
        raise NodeInputError("width", f"{width}x{height}", "width and height must be greater than 0")
    if steps_high <= 0 and steps_low <= 0:
        raise NodeInputError("steps_high_noise", "steps_high_noise and steps_low_noise are both 0",
                             "give one of the experts some steps")
    width, height = -(-width // 8) * 8, -(-height // 8) * 8
    start, end = _image("start_image", start_image), _image("end_image", end_image)
    if latent is not None and (not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor)):
        raise NodeInputError("latent", "expected a LATENT")
    if sd3_shift is not None and float(sd3_shift) > 0:
        shift = core("ModelSamplingSD3")
        (model_high_noise,) = shift(ctx, model=model_high_noise, shift=float(sd3_shift))
        (model_low_noise,) = shift(ctx, model=model_low_noise, shift=float(sd3_shift))
    encode_text = core("CLIPTextEncode")
    (positive,) = encode_text(ctx, text=positive_prompt, clip=clip)
    (negative,) = encode_text(ctx, text=negative_prompt, clip=clip)
    conds = {"high": (positive, negative), "low": (positive, negative)}
    if latent is None:
        if start is None and end is None:
            latent = {"samples": torch.zeros(batch_size, 16, (length - 1) // 4 + 1, height // 8, width // 8)}
        else:
            if start is None:
                raise NodeInputError("end_image", "an end image without a start image",
                                     "connect start_image too (the pack needs both)")
            high, low, samples = image_conditioning(ctx, vae, start, end, width, height, length, batch_size)
            if clip_vision is not None:
                images = [fit(ctx, start, width, height)[:length]]
                if end is not None:
                    images.append(fit(ctx, end, width, height)[-length:])
                cvo = {"clip_vision_output": clip_vision_states(ctx, clip_vision, images)}
                high, low = {**high, **cvo}, {**low, **cvo}
            for phase, values in (("high", high), ("low", low)):
                conds[phase] = (set_values(positive, values, input_name="positive"),
                                set_values(negative, values, input_name="negative"))
            latent = {"samples": samples}
    sampler = core("KSamplerAdvanced")
    total = steps_high + steps_low
    common = dict(noise_seed=noise_seed, steps=total, sampler_name=sampler_name, scheduler=scheduler)
    if steps_high > 0:
        (latent,) = sampler(ctx, model=model_high_noise, add_noise="enable", cfg=cfg_high_noise,
                            positive=conds["high"][0], negative=conds["high"][1], latent_image=latent, start_at_step=0,
                            end_at_step=steps_high, return_with_leftover_noise="enable", **common)
    if steps_low > 0:
        (latent,) = sampler(ctx, model=model_low_noise, add_noise="disable", cfg=cfg_low_noise,
                            positive=conds["low"][0], negative=conds["low"][1], latent_image=latent,
                            start_at_step=steps_high, end_at_step=total, return_with_leftover_noise="disable",
                            **common)
    (images,) = core("VAEDecode")(ctx, samples=latent, vae=vae)
    return images, images[-1:], latent
