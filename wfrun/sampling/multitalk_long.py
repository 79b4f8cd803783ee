"""The wrapper's MultiTalk / InfiniteTalk long-video loop (``WanVideoSampler.process`` with
image embeds from ``WanVideoImageToVideoMultiTalk``: ``nodes.py`` 2025-07, its
``multitalk_loop`` of later months for the InfiniteTalk mode).

The video is made in windows of ``frame_window_size`` pixel frames (4n + 1) until the audio
is used up; each window after the first starts with the last ``motion_frame`` frames of the
one before (:func:`window_plan`, pure arithmetic):

- window ``k`` reads the audio features from pixel frame ``start_k`` (``start_0 = 0``,
  ``start_{k+1} = start_k + frame_window_size - motion_frame``); when a window's end
  ``start + frame_window_size`` reaches the audio's length it is the last: each speaker's
  features are first extended by their own last ``end - length + 3`` rows in reverse order
  (the pack's later versions use a stored "encoded silence" file there, which wfrun does not
  have). A video whose audio fits the first window is that one window from the mode input's
  signature (2025-08-19) on; before, the pack always ran a second.
- every window draws fresh noise ``[16, latent frames, H/8, W/8]`` from the sampler's one
  CPU generator (after the sampler's own first draw of the embeds' target shape) and builds
  a fresh schedule; the ``multitalk`` scheduler is plain Euler on
  ``shift(linspace(1000, 1, steps))`` then 0 (:func:`multitalk_schedule`).
- ``multitalk`` mode: the conditioning ``y`` is the VAE encoding of the window's first
  frames (the start image, later the motion frames) padded with black (zeros) to the
  window, with a mask of ones over those pixel frames; the motion frames' latents, noised
  to the running timestep with fresh noise, replace the window's first latents before the
  first step and after every step (not in the first window).
- ``infinitetalk`` mode: ``y`` is the encoding of one frame of the start images (the
  ``k``-th for window ``k``, the last once they run out) padded the same way, with a mask
  over the first latent frame; the latents of the motion frames (the start image in the
  first window) are pinned, clean, over the first latents before and after every step.
- each window is decoded; with ``colormatch`` every frame's colours are moved to the start
  image's (InfiniteTalk: the window's frame) by :mod:`wfrun.media.color_transfer`; the
  first window is kept whole, later ones without their motion frames.

The result is the pack's LATENT with ``video``: frames ``[N, H, W, 3]`` in -1..1, which
WanVideoDecode turns into images. Differences: the steps of a window index cfg and audio
cfg by their own step (the pack before 2025-08 read step 0's values in every window);
``force_offload`` is left to wfrun's memory placement; context windows and the inputs the
pack's loop also slices (UniAnimate, Uni3C) are refused by the sampler.

Video-to-video (``samples``, the V2V InfiniteTalk example): window ``k`` takes the input
latents from latent frame ``k · ((frame_window_size - motion_frame - 1) // 4 + 1)`` on (the
first from 0), padded with the last frame where the video runs out; with noise added to the
samples (``add_noise_to_samples``, or a denoise below 1) the window starts from
``noise·t/1000 + (1 - t/1000)·latents`` at its first walked timestep, else from the latents
themselves (:func:`video_to_video`). Masked latents, a previous sampler's latents and the
``multitalk`` scheduler are refused with them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from wfrun.sampling.conditioning import ImageEmbeds
from wfrun.sampling.multitalk import MultiTalkAudio
from wfrun.sampling.schedulers import FlowMatchNearest, Schedule, time_shift

MODES = ("multitalk", "infinitetalk")
#: Rows the pack adds past a window's end when it extends the audio.
EXTRA_ROWS = 3


@dataclass(frozen=True)
class LongVideo:
    """WanVideoImageToVideoMultiTalk's settings (the pack's ``multitalk_sampling`` embeds).

    ``start_images``: ``[1, 3, F, H, W]`` in -1..1 (resized), or None; ``frame_window_size``
    already 4n + 1; ``mode``: ``multitalk``, ``infinitetalk`` or ``auto`` (from the MultiTalk
    model); ``stop_early``: a video that fits one window is one window, and
    ``default_masks``: two speakers without ``ref_target_masks`` get the pack's default
    left/right masks (:func:`wfrun.sampling.multitalk.two_speaker_masks`); both from the
    pack's 2025-08-19 commits, so for saves from that day on."""

    vae: Any
    width: int
    height: int
    frame_window_size: int
    motion_frame: int
    colormatch: str = "disabled"
    start_images: torch.Tensor | None = None
    clip_context: torch.Tensor | None = None
    tiled_vae: bool = False
    force_offload: bool = False
    mode: str = "multitalk"
    stop_early: bool = False
    default_masks: bool = False

    @property
    def target_shape(self) -> tuple[int, int, int, int]:
        return (16, (self.frame_window_size - 1) // 4 + 1, self.height // 8, self.width // 8)


@dataclass(frozen=True)
class Window:
    """One window of the plan: audio/pixel frames ``start .. end - 1``, the motion frames it
    begins with (1: the start image), the frames it adds to the video, whether the audio
    had to be extended before it."""

    start: int
    end: int
    motion: int
    keep: int
    extend_to: int | None = None


def window_plan(audio_frames: int, window: int, motion: int, stop_early: bool = False) -> list[Window]:
    """The pack's windows over ``audio_frames`` rows of audio features (module docstring)."""
    if window < 5 or (window - 1) % 4:
        raise ValueError(f"a window of {window} frames; the loop needs 4n + 1, at least 5")
    if not 1 <= motion < window:
        raise ValueError(f"{motion} motion frames for windows of {window} frames; it needs 1 .. {window - 1}")
    plan = [Window(0, window, 1, window)]
    if stop_early and window >= audio_frames:
        return plan
    start, length = 0, audio_frames
    while True:
        start += window - motion
        end = start + window
        extend = None
        last = end >= length
        if last:
            extend = length + (end - length + EXTRA_ROWS)
            length = extend
        plan.append(Window(start, end, motion, window - motion, extend))
        if last:
            return plan


def extend_features(features: torch.Tensor, end: int) -> torch.Tensor:
    """A speaker's features extended past ``end`` as the pack does before its last window:
    its last ``end - length + 3`` rows, reversed, appended (nothing when it is long enough)."""
    length = features.shape[0]
    if end < length:
        return features
    extra = end - length + EXTRA_ROWS
    return torch.cat([features, features[-extra:].flip(0)])


def multitalk_schedule(steps: int, shift: float) -> Schedule:
    """The ``multitalk`` scheduler: timesteps ``shift(linspace(1000, 1, steps) / 1000) x
    1000`` (float32), Euler steps on ``sigma = t / 1000`` into 0 after the last."""
    base = np.linspace(1000, 1, int(steps), dtype=np.float32) / 1000
    sigmas = torch.from_numpy(np.asarray(time_shift(base, float(shift)), dtype=np.float32))
    timesteps = sigmas * 1000
    return Schedule(name="multitalk", stepper=FlowMatchNearest(timesteps, sigmas), timesteps=timesteps,
                    steps=int(steps))


def noised(latent: torch.Tensor, noise: torch.Tensor, t: float) -> torch.Tensor:
    """The pack's ``add_noise``: ``(1 - t/1000) x + t/1000 noise``."""
    s = float(t) / 1000
    return (1 - s) * latent + s * noise


def input_slice(source: torch.Tensor, start: int, frames: int) -> torch.Tensor:
    """Latent frames ``start .. start + frames`` of the input video ``[C, T, h, w]``, padded
    with copies of its last frame where it runs out (the pack's loop)."""
    end = start + frames
    if end > source.shape[1]:
        source = torch.cat([source, source[:, -1:].repeat(1, end - source.shape[1], 1, 1)], dim=1)
    return source[:, start:end]


def video_to_video(noise: torch.Tensor, latents: torch.Tensor, t0: float | None) -> torch.Tensor:
    """A window's starting latents from its input slice: mixed with the noise at the first
    timestep walked (``noise·t/1000 + (1 - t/1000)·latents``) when noise is added to the
    samples, else the slice itself."""
    if tuple(latents.shape) != tuple(noise.shape):
        raise ValueError(f"input latents {tuple(latents.shape)} do not fit the window {tuple(noise.shape)}")
    if t0 is None:
        return latents.clone()
    return noise * t0 / 1000 + (1 - t0 / 1000) * latents


def motion_mask(window: int, motion: int, latent_frames: int, lat_h: int, lat_w: int, mode: str) -> torch.Tensor:
    """The 4 mask channels of ``y`` ``[4, latent_frames, lat_h, lat_w]``: MultiTalk's ones over
    the first ``motion`` pixel frames (the first frame counted four times, then four pixel
    frames a latent frame), InfiniteTalk's over the first latent frame."""
    if mode == "infinitetalk":
        mask = torch.zeros(4, latent_frames, lat_h, lat_w)
        mask[:, :1] = 1
        return mask
    pixels = torch.zeros(window)
    pixels[:motion] = 1
    pixels = torch.cat([pixels[:1].repeat(4), pixels[1:]])
    return pixels.view(latent_frames, 4).T[:, :, None, None].expand(4, latent_frames, lat_h, lat_w).clone()


def colour_matched(frames: torch.Tensor, reference: torch.Tensor, method: str) -> torch.Tensor:
    """``frames`` [3, T, H, W] with each frame's colours moved to ``reference`` [3, H, W]."""
    if method == "disabled":
        return frames
    from wfrun.media.color_transfer import TRANSFERS

    ref = reference.permute(1, 2, 0).float().cpu().numpy()
    out = [torch.from_numpy(TRANSFERS[method](f.permute(1, 2, 0).float().cpu().numpy(), ref)).float()
           for f in frames.unbind(1)]
    return torch.stack(out, dim=0).permute(3, 0, 1, 2)


@dataclass(frozen=True)
class Codec:
    """The VAE for the loop: ``encode(video [3, T, H, W] in -1..1) -> latents [16, t, h, w]``,
    ``decode(latents) -> video [3, T, H, W] in -1..1``."""

    encode: Callable[[torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]


def sample_long(req: Any, long: LongVideo, audio: MultiTalkAudio, codec: Codec, mode: str,
                prepare: Callable[[Any], Any], run_steps: Callable[..., None], state_of: Callable[[torch.Tensor], Any]
                ) -> dict:
    """The loop (module docstring) on the wrapper sampler's phases: ``prepare(request)`` and
    ``run_steps(prepared, state, on_step, description)`` of :mod:`wfrun.sampling.loop`
    (passed in: that module imports this one's callers), ``state_of(latent)`` its LoopState."""
    if mode not in MODES:
        raise ValueError(f"unknown long-video mode {mode!r}")
    if long.start_images is None:
        raise ValueError("the long-video loop needs a start image (the pack's MultiTalk models are image-to-video)")
    device = torch.device(req.device)
    window = long.frame_window_size
    generator = torch.Generator(device="cpu").manual_seed(int(req.seed))
    torch.randn(*long.target_shape, generator=generator)  # the sampler's own draw before the loop
    features = [f.float() for f in audio.features]
    source = req.samples["samples"].float().squeeze(0) if req.samples is not None else None
    plan = window_plan(features[0].shape[0], window, long.motion_frame, long.stop_early)
    originals = long.start_images.float()
    reference = originals[0, :, 0]
    lat_h, lat_w = long.height // 8, long.width // 8
    latent_frames = (window - 1) // 4 + 1
    pieces: list[torch.Tensor] = []
    motion_pixels: torch.Tensor | None = None  # [3, m, H, W]: the last window's last frames
    for k, part in enumerate(plan):
        req.check_interrupt()
        if part.extend_to is not None:
            features = [extend_features(f, part.end) for f in features]
        first = k == 0
        motion_latents = 1 + (part.motion - 1) // 4
        if mode == "infinitetalk":
            frame = originals[0, :, min(k, originals.shape[2] - 1)][:, None]  # [3, 1, H, W]
            cond = frame
            motion_source = frame if first else motion_pixels
        else:
            cond = originals[0, :, :1] if first else motion_pixels
            motion_source = None
        padded = torch.cat([cond, cond.new_zeros(3, window - cond.shape[1], long.height, long.width)], dim=1)
        encoded = codec.encode(padded).float()
        if mode == "infinitetalk":
            motion = codec.encode(motion_source).float()[:, :motion_latents]
        else:
            motion = encoded[:, :motion_latents]
        y = torch.cat([motion_mask(window, part.motion, latent_frames, lat_h, lat_w, mode), encoded])
        noise = torch.randn(16, latent_frames, lat_h, lat_w, generator=generator)
        talk = dataclasses.replace(audio, features=tuple(features), start=part.start, latent_frames=None,
                                   _tokens={})
        embeds = ImageEmbeds(num_frames=window, image_embeds=y, clip_context=long.clip_context,
                             lat_h=lat_h, lat_w=lat_w)
        text = req.text_embeds
        if len(text.prompt_embeds) > 1:  # one prompt a window, the last for the rest
            i = min(k, len(text.prompt_embeds) - 1)
            text = dataclasses.replace(text, prompt_embeds=(text.prompt_embeds[i],))
        multitalk_sched = str(req.scheduler) == "multitalk"
        window_req = dataclasses.replace(req, image_embeds=embeds, text_embeds=text, multitalk=talk,
                                         scheduler="euler" if multitalk_sched else req.scheduler, samples=None)
        p = prepare(window_req)
        if source is not None:  # video-to-video: the window's slice of the input latents
            start = 0 if first else k * ((window - long.motion_frame - 1) // 4 + 1)
            noise = video_to_video(noise, input_slice(source, start, latent_frames),
                                   float(p.schedule.timesteps[0]) if p.add_noise else None)
        if multitalk_sched:
            p.schedule = multitalk_schedule(int(req.steps), float(req.shift))
            count = len(p.schedule.timesteps)
            p.cfg = list(p.cfg) + [p.cfg[-1]] * max(0, count - len(p.cfg))
            cfg = list(p.audio.cfg)
            p.audio = dataclasses.replace(p.audio, cfg=cfg + [cfg[-1]] * max(0, count - len(cfg)))
        p.generator = generator
        state = state_of(noise.to(device))
        times = [float(t) for t in p.schedule.timesteps] + [0.0]
        motion_dev = motion.to(device)

        def inject(idx: int, when: str, p=p, state=state, motion_dev=motion_dev, first=first, times=times) -> None:
            n = motion_dev.shape[1]
            if mode == "infinitetalk":
                state.latent[:, :n] = motion_dev.to(state.latent)
            elif not first:
                t = times[idx] if when == "before" else times[idx + 1]
                if when == "before" and idx > 0:
                    return  # the pack noises the motion frames before the first step, then after each
                extra = torch.randn(tuple(motion_dev.shape), generator=generator).to(device)
                state.latent[:, :n] = noised(motion_dev, extra, t).to(state.latent)

        run_steps(p, state, inject, f"WanVideoSampler (window {k + 1}/{len(plan)})")
        video = codec.decode(state.latent.float()).float().cpu()
        video = colour_matched(video, frame[:, 0] if mode == "infinitetalk" else reference, long.colormatch)
        pieces.append(video if first else video[:, part.motion:])
        motion_pixels = video[:, -long.motion_frame:]
    frames = torch.cat(pieces, dim=1)
    return {"video": frames.permute(1, 2, 3, 0).contiguous()}


def auto_mode(mode: str, model_type: str | None) -> str:
    """The node's ``auto`` mode: the MultiTalk model's kind (InfiniteTalk for a file whose
    name says so, as the pack decides)."""
    if mode != "auto":
        return mode
    return "infinitetalk" if (model_type or "").lower() == "infinitetalk" else "multitalk"


__all__: Sequence[str] = ("Codec", "LongVideo", "Window", "auto_mode", "colour_matched", "extend_features",
                          "input_slice", "motion_mask", "multitalk_schedule", "noised", "sample_long",
                          "video_to_video", "window_plan")
