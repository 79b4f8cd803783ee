"""Wan 2.2 S2V as the wrapper's WanVideoSampler runs it (WanVideoAddS2VEmbeds' embeds,
``nodes.py`` 2025-08-28, ``nodes_sampler.py`` since 2025-09-21; the model's S2V branch in
``wanvideo/modules/model.py``), on the shared S2V forward (:func:`~.s2v.s2v_forward`).

The pack's choices this reproduces, each per model call:

- **Audio**: the embeds' whole audio bucket (``[1, layers, C, N]``, N video frames) — under
  context windows the window's frames ``4*w0 … 4*w_last`` (indices clamped to the bucket) —
  with its first step repeated once in front (``s2v_motion_frames[0] = 1``); the uncond call
  gets zeros. The causal audio encoder then makes one audio frame per latent frame only
  when the lengths agree; the pack fails (or splits the video's tokens wrongly) otherwise,
  wfrun refuses: without context windows the bucket must match the video
  (``frame_window_size`` = ``num_frames`` with audio no longer than the video).
- **audio_scale** multiplies the local audio tokens the injectors attend to.
- **Reference** (``ref_latent``): every call, at the RoPE frames after the video's, timestep
  0, with the video's learned token vector added to it as well as its own (the pack adds
  ``trainable_cond_mask[0]`` to the whole sequence after appending it).
- **Pose** (``pose_latent``): only under context windows (the pack's plain call never passes
  it), the window's frames, inside ``pose_start_percent … pose_end_percent`` (step 0 too
  when the end is above 0); added through ``cond_encoder``. Without pose no ``cond_encoder``
  term at all (ComfyUI adds that of zero latents).
- No motion frames: outside the pack's framepack loop the embeds carry none.

The framepack loop (``enable_framepack``) is :mod:`.s2v_framepack`.

Refused with S2V (by input name): step caches,
batched cfg, Enhance-A-Video, RIFLEx, NAG, split attention steps, and other models' audio or
conditioning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from wfrun.models.families.wan_transformer import S2V_AUDIO_PER_LATENT
from wfrun.models.s2v_parts import is_s2v
from wfrun.sampling.s2v import S2VInputs

#: Audio steps repeated in front of the audio outside the framepack loop (``s2v_motion_frames[0]``).
AUDIO_PREPEND = 1


class S2VError(ValueError):
    """A bad S2V input; ``input_name`` is the sampler input to blame."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


@dataclass(frozen=True)
class WrapperS2V:
    """WanVideoAddS2VEmbeds' part of WANVIDIMAGE_EMBEDS (the pack's ``audio_embeds`` entry)."""

    audio: torch.Tensor | None         # the audio bucket [1, layers, C, N video frames]
    audio_scale: float
    ref_latent: torch.Tensor | None    # [1, 16, Fr, h, w]
    pose_latent: torch.Tensor | None   # [1, 16, F, h, w]
    pose_start_percent: float
    pose_end_percent: float
    frame_window_size: int
    framepack: bool = False
    #: The embeds' VAE (WANVAE): the framepack loop encodes motion frames and decodes windows with it.
    vae: Any = None


@dataclass(frozen=True)
class FramepackPlan:
    """The framepack loop's sizes for ``frame_window_size`` video frames a window (the
    pack's arithmetic): the motion frames (``window - 7``, 73 for 80) and their latent count,
    the window's latent frames, and the window count (the audio bucket's)."""

    window: int
    motion_frames: int
    motion_latents: int
    latents: int
    repeats: int


def framepack_plan(window: int, audio_frames: int) -> FramepackPlan:
    motion = window - 7
    motion_latents = (motion + 3) // 4
    return FramepackPlan(window=window, motion_frames=motion, motion_latents=motion_latents,
                         latents=(window + 3 + motion) // 4 - motion_latents, repeats=audio_frames // window)


def framepack_inputs(s2v: WrapperS2V, plan: FramepackPlan, r: int, motion: torch.Tensor, idx: int, pct: float,
                     device: torch.device, dtype: torch.dtype) -> S2VInputs:
    """Window ``r``'s cond inputs: its audio frames (zeros past the bucket) behind the first
    repeated once per motion frame, the first ``motion_latents`` encoded frames dropped; the
    motion latents; the reference; its pose frames (padded with -1) inside the pose window."""
    part = s2v.audio[..., r * plan.window:(r + 1) * plan.window]
    if part.shape[-1] < plan.window:
        part = torch.cat([part, part.new_zeros(*part.shape[:-1], plan.window - part.shape[-1])], dim=-1)
    audio = torch.cat([part[..., :1].repeat(1, 1, 1, plan.motion_frames), part], dim=-1)
    pose = None
    if s2v.pose_latent is not None and _in_window(s2v.pose_start_percent, s2v.pose_end_percent, pct, idx):
        per = plan.window // 4
        pose = s2v.pose_latent[:, :, r * per:(r + 1) * per]
        if pose.shape[2] < per:
            pose = torch.cat([pose, -pose.new_ones(*pose.shape[:2], per - pose.shape[2], *pose.shape[3:])], dim=2)
        pose = pose.to(device, dtype)
    ref = s2v.ref_latent.to(device, dtype) if s2v.ref_latent is not None else None
    return S2VInputs(audio=audio.to(device, dtype), reference=ref, control=pose, motion=motion.to(device, dtype),
                     audio_scale=float(s2v.audio_scale), video_kind_on_reference=True,
                     audio_skip_frames=plan.motion_latents)


def encoded_frames(steps: int) -> int:
    """Frames the causal audio encoder makes of ``steps`` audio steps (two causal convs of
    kernel 3, stride 2, padded on the left by 2)."""
    once = (steps - 1) // 2 + 1
    return (once - 1) // 2 + 1


def window_audio(audio: torch.Tensor, window: Sequence[int] | None) -> torch.Tensor:
    """The audio a call reads, before the repeated first step: the whole bucket, or the
    window's ``4*w0 … 4*w_last`` clamped to it."""
    if window is None:
        return audio
    idx = torch.arange(window[0] * S2V_AUDIO_PER_LATENT, window[-1] * S2V_AUDIO_PER_LATENT + 1)
    return audio[..., idx.clamp(max=audio.shape[-1] - 1).to(audio.device)]


def call_audio(audio: torch.Tensor, window: Sequence[int] | None, frames: int) -> torch.Tensor:
    """The call's audio with the first step repeated in front, checked to make ``frames``
    audio frames."""
    part = window_audio(audio, window)
    part = torch.cat([part[..., :1].repeat(1, 1, 1, AUDIO_PREPEND), part], dim=-1)
    made = encoded_frames(part.shape[-1])
    if made != frames:
        raise S2VError("image_embeds", f"the S2V audio of {audio.shape[-1]} video frames gives {made} audio frames "
                       f"for {frames} latent frames (the pack fails or mixes frames here)",
                       "set WanVideoAddS2VEmbeds' frame_window_size to the video's num_frames, or use "
                       "context windows")
    return part


def _in_window(start: float, end: float, pct: float, idx: int) -> bool:
    return (start <= pct <= end) or (end > 0 and idx == 0 and pct >= start)


def call_inputs(s2v: WrapperS2V, window: Sequence[int] | None, latent_len: int, idx: int, pct: float,
                device: torch.device, dtype: torch.dtype) -> S2VInputs:
    """The cond call's S2V inputs for one prediction (a context window's, or the video's)."""
    frames = len(window) if window is not None else latent_len
    audio = call_audio(s2v.audio, window, frames).to(device, dtype) if s2v.audio is not None else None
    pose = None
    if s2v.pose_latent is not None and window is not None and \
            _in_window(s2v.pose_start_percent, s2v.pose_end_percent, pct, idx):
        pose = s2v.pose_latent[:, :, list(window)].to(device, dtype)
    ref = s2v.ref_latent.to(device, dtype) if s2v.ref_latent is not None else None
    return S2VInputs(audio=audio, reference=ref, control=pose, audio_scale=float(s2v.audio_scale),
                     video_kind_on_reference=True)


def for_uncond(inputs: S2VInputs | None) -> S2VInputs | None:
    """The uncond call's inputs: the audio zeroed (the pack's ``s2v_audio_input * 0``)."""
    if inputs is None or inputs.audio is None:
        return inputs
    return dataclasses.replace(inputs, audio=torch.zeros_like(inputs.audio))


def check(transformer: Any, s2v: WrapperS2V | None, options: Any, latent_len: int, windowed: bool,
          others: dict[str, Any]) -> None:
    """Refuse what the wrapper's S2V path cannot take here, naming the input. ``others``:
    the names of other conditioning found (``name -> present``)."""
    model_s2v = is_s2v(transformer)
    if s2v is None:
        if model_s2v:
            raise S2VError("image_embeds", "a Wan 2.2 S2V model needs S2V embeds",
                           "add WanVideoAddS2VEmbeds (audio, reference latent) to the image embeds")
        return
    if not model_s2v:
        raise S2VError("image_embeds", "S2V embeds (WanVideoAddS2VEmbeds) need a Wan 2.2 S2V model",
                       "load a Wan2_2-S2V-14B file in WanVideoModelLoader")
    if s2v.framepack:
        _check_framepack(s2v, windowed)
    if options.teacache is not None:
        raise S2VError("cache_args", "step caches (TeaCache, EasyCache, MagCache) with a Wan 2.2 S2V model are not "
                       "supported", "disconnect cache_args")
    if options.batched_cfg:
        raise S2VError("batched_cfg", "batched cfg with S2V is not supported", "turn batched_cfg off")
    if options.feta is not None:
        raise S2VError("feta_args", "Enhance-A-Video with S2V is not supported", "disconnect feta_args")
    if int(options.riflex_freq_index) != 0:
        raise S2VError("riflex_freq_index", "RIFLEx with S2V is not supported", "set riflex_freq_index to 0")
    exp = options.experimental
    if exp is not None and str(getattr(exp, "video_attention_split_steps", "") or "").strip():
        raise S2VError("experimental_args", "split attention steps with S2V are not supported",
                       "clear video_attention_split_steps")
    for name, present in others.items():
        if present:
            raise S2VError(name if name in ("text_embeds",) else "image_embeds",
                           f"S2V together with {name.replace('_', ' ')} is not supported",
                           "use WanVideoAddS2VEmbeds on plain WanVideoEmptyEmbeds")
    if s2v.pose_latent is not None and windowed and s2v.pose_latent.shape[2] < latent_len:
        raise S2VError("image_embeds", f"the pose latents have {s2v.pose_latent.shape[2]} frames for a video of "
                       f"{latent_len}", "encode the pose video with as many frames as the video")
    if s2v.audio is not None and not windowed and not s2v.framepack:
        call_audio(s2v.audio, None, latent_len)  # refused before any step when the lengths disagree


def _check_framepack(s2v: WrapperS2V, windowed: bool) -> None:
    if windowed:
        raise S2VError("context_options", "the S2V framepack loop and context windows cannot be used together "
                       "(nor in the pack)", "disconnect context_options or turn enable_framepack off")
    if s2v.audio is None:
        raise S2VError("image_embeds", "the S2V framepack loop needs audio (its windows follow the audio)",
                       "connect AudioEncoderEncode to WanVideoAddS2VEmbeds")
    if s2v.vae is None or not hasattr(s2v.vae, "vae"):
        raise S2VError("image_embeds", "the S2V framepack loop needs WanVideoAddS2VEmbeds' vae",
                       "connect WanVideoVAELoader to WanVideoAddS2VEmbeds' vae")
    plan = framepack_plan(s2v.frame_window_size, s2v.audio.shape[-1])
    made = encoded_frames(plan.motion_frames + plan.window) - plan.motion_latents
    if plan.motion_frames < 1 or made != plan.latents or plan.window % 4:
        raise S2VError("image_embeds", f"a framepack window of {plan.window} frames (the pack's default is 80) "
                       f"gives {made} audio frames for {plan.latents} latent frames",
                       "use a frame_window_size that is a multiple of 4, such as 80")
    if s2v.pose_latent is not None and plan.window // 4 != plan.latents:
        raise S2VError("image_embeds", "pose latents do not fit this framepack window", "use frame_window_size 80")
