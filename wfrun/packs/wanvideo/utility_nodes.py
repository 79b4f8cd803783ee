"""Small helper nodes of the wrapper (its ``nodes.py`` and ``nodes_utility.py``, 2025-07 on)
that compute a value and touch no model:

- ``WanVideoBlockList``: ``"0,2,4-6"`` (commas or lines; ``a-b`` inclusive) → ``[0, 2, 4, 5, 6]``,
  in the written order with repeats kept, as the pack's ``create_list``.
- ``CreateScheduleFloatList``: ``CreateCFGScheduleFloatList``'s rule with ``default_value``
  outside the window (and on step 0 whenever ``start_percent`` is above 0).
- ``WanVideoLatentReScale``: ComfyUI's Wan latents (raw VAE space) ↔ the wrapper's
  (normalised: ``(x - mean) / std``), with the Wan 2.1 VAE's 16 channel statistics, or the
  Wan 2.2 VAE's when the latent has 48 channels (``models.families.latent_formats``).
- ``ExtractStartFramesForContinuations``: the first ``num_frames`` images (fewer when the
  video is shorter), as float32 on the CPU.
- ``NormalizeAudioLoudness``: the sound scaled to ``lufs`` by its BS.1770 integrated loudness
  over all its channels (``media.loudness``; the pack uses pyloudnorm); silence (below -100
  LUFS) left as it is, as the pack. Sound shorter than one 0.4 s gating block, more than
  five channels, or a batch of several waveforms is refused (the pack's meter raises on the
  first two and cannot take the third).
- ``WanVideoPreviewEmbeds``: an image embeds' conditioning latents (``image_embeds``, the
  model's ``y``) as a LATENT ``[1, C, T, H, W]``; the pack's ``mask`` is a key no wfrun
  embeds carry (the mask channels are the first four of ``y``), so the MASK output is None
  there as in the pack for embeds without one.
- ``WanVideoLatentPreview`` (2025-02 to 2025-04): a fixed linear latent → RGB map,
  stretched to 0..1 over the whole preview (:data:`PREVIEW_RGB`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from wfrun.media.loudness import LoudnessError, integrated_loudness, normalize
from wfrun.models.families.latent_formats import WAN21, WAN22
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds

log = logging.getLogger(__name__)


def block_list(text: str) -> list[int]:
    """The pack's block list syntax (see the module docs)."""
    out: list[int] = []
    for line in str(text).splitlines():
        for part in line.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if "-" in part:
                    start, end = (int(x) for x in part.split("-", 1))
                    out.extend(range(start, end + 1))
                else:
                    out.append(int(part))
            except ValueError:
                raise NodeInputError("blocks", f"'{part}' is neither a block number nor a range",
                                     "write numbers and ranges such as 0,2,4-6") from None
    return out


@executor("WanVideoBlockList")
def wanvideo_block_list(ctx: ExecContext, blocks: str, **_: Any) -> tuple:
    return (block_list(blocks),)


def schedule_float_list(steps: int, start: float, end: float, default: float, interpolation: str,
                        start_percent: float, end_percent: float) -> list[float]:
    """The pack's per-step list (see the module docs)."""
    out = [default] * steps
    first = min(int(steps * start_percent), steps - 1)
    last = min(int(steps * end_percent), steps - 1)
    shape = {"linear": lambda t: t, "ease_in": lambda t: t * t, "ease_out": lambda t: t * (2 - t)}[interpolation]
    for i in range(first, last + 1):
        t = 0.0 if last == first else (i - first) / (last - first)
        out[i] = round(start + shape(t) * (end - start), 2)
    if start_percent > 0:
        out[0] = default
    return out


@executor("CreateScheduleFloatList")
def create_schedule_float_list(ctx: ExecContext, steps: int, start_value: float, end_value: float,
                               default_value: float, interpolation: str, start_percent: float,
                               end_percent: float, **_: Any) -> tuple:
    if interpolation not in ("linear", "ease_in", "ease_out"):
        raise NodeInputError("interpolation", f"unknown interpolation {interpolation!r}", "use linear, ease_in or ease_out")
    if not 1 <= int(steps) <= 10_000:
        raise NodeInputError("steps", f"{steps} steps", "use 1 to 10000")
    return (schedule_float_list(int(steps), float(start_value), float(end_value), float(default_value),
                                interpolation, float(start_percent), float(end_percent)),)


@executor("WanVideoLatentReScale")
def wanvideo_latent_rescale(ctx: ExecContext, samples: Any, direction: str, **_: Any) -> tuple:
    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor):
        raise NodeInputError("samples", "expected a LATENT")
    latents = samples["samples"]
    if latents.ndim != 5:
        raise NodeInputError("samples", f"expected video latents [batch, channels, frames, h, w], got "
                             f"{tuple(latents.shape)}")
    stats = WAN22 if latents.shape[1] == WAN22.channels else WAN21
    if latents.shape[1] != stats.channels:
        raise NodeInputError("samples", f"{latents.shape[1]} latent channels", "give Wan VAE latents (16 or 48 channels)")
    shape = (1, stats.channels, 1, 1, 1)
    mean = torch.tensor(stats.mean).view(shape).to(latents)
    inv_std = (1.0 / torch.tensor(stats.std)).view(shape).to(latents)
    if direction == "comfy_to_wrapper":
        latents = (latents - mean) * inv_std
    elif direction == "wrapper_to_comfy":
        latents = latents / inv_std + mean
    else:
        raise NodeInputError("direction", f"unknown direction {direction!r}", "use comfy_to_wrapper or wrapper_to_comfy")
    return ({**samples, "samples": latents},)


@executor("ExtractStartFramesForContinuations")
def extract_start_frames(ctx: ExecContext, input_video_frames: Any, num_frames: int, **_: Any) -> tuple:
    if input_video_frames is None:
        return (torch.empty((0, 64, 64, 3), dtype=torch.float32),)
    if not isinstance(input_video_frames, torch.Tensor) or input_video_frames.ndim != 4:
        raise NodeInputError("input_video_frames", "expected IMAGE frames [frames, height, width, channels]")
    if input_video_frames.shape[0] == 0:
        log.warning("ExtractStartFramesForContinuations: no input frames; passing on an empty batch")
        return (torch.empty((0, *input_video_frames.shape[1:]), dtype=input_video_frames.dtype),)
    if int(num_frames) > input_video_frames.shape[0]:
        log.warning("ExtractStartFramesForContinuations: %s frames asked, the video has %s; giving all of them",
                    num_frames, input_video_frames.shape[0])
    return (input_video_frames[:max(int(num_frames), 0)].cpu().float(),)


@executor("NormalizeAudioLoudness")
def normalize_audio_loudness(ctx: ExecContext, audio: Any, lufs: float, **_: Any) -> tuple:
    if not isinstance(audio, dict) or not isinstance(audio.get("waveform"), torch.Tensor):
        raise NodeInputError("audio", "expected AUDIO (a waveform and its sample rate)")
    wave, rate = audio["waveform"], int(audio.get("sample_rate", 0))
    if wave.ndim == 3:
        if wave.shape[0] != 1:
            raise NodeInputError("audio", f"a batch of {wave.shape[0]} waveforms", "give one sound")
        wave = wave[0]
    if wave.ndim != 2 or rate <= 0:
        raise NodeInputError("audio", f"expected a waveform [1, channels, samples] with a rate, got "
                             f"{tuple(wave.shape)} at {rate} Hz")
    samples = np.ascontiguousarray(wave.detach().cpu().float().numpy().T)  # [samples, channels]
    try:
        loudness = integrated_loudness(samples, rate)
    except LoudnessError as err:
        raise NodeInputError("audio", f"loudness measure: {err}") from None
    if abs(loudness) > 100:
        out = samples
    else:
        out = normalize(samples, loudness, float(lufs))
    return ({"waveform": torch.from_numpy(np.ascontiguousarray(out)).T.unsqueeze(0).float(), "sample_rate": rate},)


@executor("WanVideoPreviewEmbeds")
def wanvideo_preview_embeds(ctx: ExecContext, embeds: Any, **_: Any) -> tuple:
    if not isinstance(embeds, ImageEmbeds):
        raise NodeInputError("embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(embeds).__name__}")
    if embeds.image_embeds is None:
        raise NodeInputError("embeds", "these embeds hold no conditioning latents (text-to-video embeds)",
                             "connect image-to-video embeds, e.g. from WanVideoImageToVideoEncode")
    return ({"samples": embeds.image_embeds.unsqueeze(0)}, None)


#: WanVideoLatentPreview's latent → RGB map as the pack last had it (2025-03-30, before the
#: node was removed in April 2025): one row per latent channel, then the bias.
PREVIEW_RGB = (
    (0.000159, -0.000223, 0.001299), (0.000566, 0.000786, 0.001948), (0.001531, -0.000337, 0.000863),
    (0.001887, 0.002190, 0.002117), (0.002032, 0.000782, -0.000512), (0.001634, 0.001260, 0.001685),
    (0.001360, -0.000292, 0.000189), (0.001410, 0.000769, 0.001935), (-0.000365, 0.000211, 0.000397),
    (-0.000091, 0.001333, 0.001812), (0.000201, 0.001866, 0.000546), (0.001889, 0.000544, -0.000237),
    (0.001779, 0.000022, 0.001764), (0.001456, 0.000431, 0.001574), (0.001791, 0.001738, -0.000121),
    (-0.000034, -0.000405, 0.000708),
)
PREVIEW_BIAS = (-0.0011, 0.0, -0.0002)


@executor("WanVideoLatentPreview")
def wanvideo_latent_preview(ctx: ExecContext, samples: Any, **_: Any) -> tuple:
    """Each latent frame of the first video mapped to RGB by :data:`PREVIEW_RGB`, the whole
    preview then stretched to 0..1 by its own minimum and maximum, and the map as text. Its
    other inputs (seed, ranges, biases) were unused by then. A preview with one value
    everywhere is all 0 (the pack's stretch divides by zero there)."""
    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor):
        raise NodeInputError("samples", "expected a LATENT")
    latents = samples["samples"]
    if latents.ndim != 5 or latents.shape[1] != len(PREVIEW_RGB):
        raise NodeInputError("samples", f"expected Wan 2.1 video latents [B, 16, T, H, W], got {tuple(latents.shape)}")
    weight = torch.tensor(PREVIEW_RGB, dtype=torch.float32)
    images = latents[0].float().permute(1, 2, 3, 0) @ weight + torch.tensor(PREVIEW_BIAS)
    low, high = images.min(), images.max()
    images = (images - low) / (high - low) if high > low else torch.zeros_like(images)
    return (images.cpu(), str([list(row) for row in PREVIEW_RGB]))
