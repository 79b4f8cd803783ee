"""``InfiniteTalkAutoSampler`` (vjumpkung/comfyui-infinitetalk-native-sampler, nodes.py,
a069da0 2026-02-17 to 2006971 2026-04-01): a talking video as long as the audio, from
ComfyUI's own InfiniteTalk pieces.

The node is a loop over what ComfyUI's core nodes do, so wfrun runs it with its executors
of those nodes (``WanInfiniteTalkToVideo``, ``KSampler``, ``VAEDecode``; see
``comfy_core_models.infinitetalk_nodes`` for the patch itself):

- ``total = ceil(audio seconds * fps)`` frames (fps 25; from 2006971 the ``framerate``
  widget, of which wfrun runs 25 only: its audio features are resampled to 25 a second);
  ``extends = max(0, ceil((total - length) / (length - motion_frame_count)))``.
- Base pass: WanInfiniteTalkToVideo with the start image (no previous frames), KSampler
  with the node's seed, steps, cfg, sampler, scheduler, denoise on its empty latent,
  VAEDecode.
- Extend pass ``i`` (0-based): the same with ``previous_frames`` = every frame so far
  (its last ``motion_frame_count`` frames are refitted and encoded as the motion latent,
  the audio window starts at ``len(frames) - motion_frame_count``), seed ``seed + i + 1``;
  the decoded video's first ``motion_frame_count`` frames (the motion frames again) are
  dropped and the rest appended.
- The frames are cut to ``total``; the audio comes back unchanged.
- Two speakers: ``audio_encoder_output_2`` with ``mask_1`` and ``mask_2`` (all three or
  none, as the pack checks) is the core node's ``two_speakers`` mode.

Differences: without ``start_image`` the pack starts from a zero motion latent and no image
conditioning; wfrun's WanInfiniteTalkToVideo refuses that (see its docstring), so this
node refuses it too. ``framerate`` other than 25 is refused.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

FPS = 25


def pass_counts(audio: Any, length: int, motion_frame_count: int, fps: int = FPS) -> tuple[int, int]:
    """(frames the audio lasts, extend passes), the pack's arithmetic."""
    if not isinstance(audio, dict) or not isinstance(audio.get("waveform"), torch.Tensor) or not audio.get("sample_rate"):
        raise NodeInputError("audio", "expected an AUDIO (waveform and sample_rate)")
    seconds = audio["waveform"].shape[-1] / audio["sample_rate"]
    total = math.ceil(seconds * fps)
    if total < 1:
        raise NodeInputError("audio", "the audio is too short to make any frame")
    step = length - motion_frame_count
    if step <= 0:
        raise NodeInputError("length", f"length {length} must be greater than motion_frame_count {motion_frame_count}")
    return total, max(0, math.ceil((total - length) / step))


def _renamed(err: NodeInputError) -> NodeInputError:
    """The core node's ``mode.x`` inputs are this node's ``x``."""
    return NodeInputError(err.input_name.removeprefix("mode."), str(err), err.hint)


@executor("InfiniteTalkAutoSampler")
def infinitetalk_auto_sampler(ctx: ExecContext, model: Any, model_patch: Any, positive: Any, negative: Any, vae: Any,
                              audio_encoder_output_1: Any, audio: Any, width: int, height: int, length: int,
                              motion_frame_count: int, audio_scale: float, seed: int, steps: int, cfg: float,
                              sampler_name: str, scheduler: str, denoise: float, framerate: int,
                              start_image: Any = None, clip_vision_output: Any = None,
                              audio_encoder_output_2: Any = None, mask_1: Any = None, mask_2: Any = None,
                              **_: Any) -> tuple:
    # framerate's default stands for the signature before 2006971, which has no such widget
    if int(framerate) != FPS:
        raise NodeInputError("framerate", f"framerate {framerate}: wfrun's InfiniteTalk resamples audio features "
                             f"to {FPS} frames a second only", f"set framerate to {FPS}")
    if audio_encoder_output_2 is not None and (mask_1 is None or mask_2 is None):
        raise NodeInputError("mask_1" if mask_1 is None else "mask_2",
                             "both mask_1 and mask_2 are needed with two audio encoder outputs")
    if (mask_1 is not None or mask_2 is not None) and (audio_encoder_output_2 is None or mask_1 is None
                                                       or mask_2 is None):
        raise NodeInputError("audio_encoder_output_2" if audio_encoder_output_2 is None else
                             ("mask_1" if mask_1 is None else "mask_2"),
                             "masks need the second audio encoder output and both masks")
    length, motion = int(length), int(motion_frame_count)
    total, extends = pass_counts(audio, length, motion)
    talk = builtin_executor("WanInfiniteTalkToVideo", "model")
    sample = builtin_executor("KSampler", "model")
    decode = builtin_executor("VAEDecode", "vae")
    speakers: dict[str, Any] = {"mode": "single_speaker"}
    if audio_encoder_output_2 is not None:
        speakers = {"mode": "two_speakers", "mode.audio_encoder_output_2": audio_encoder_output_2,
                    "mode.mask_1": mask_1, "mode.mask_2": mask_2}

    def one_pass(pass_seed: int, previous: torch.Tensor | None) -> torch.Tensor:
        try:
            patched, pos, neg, latent, trim = talk(
                ctx, model=model, model_patch=model_patch, positive=positive, negative=negative, vae=vae,
                width=width, height=height, length=length, audio_encoder_output_1=audio_encoder_output_1,
                motion_frame_count=motion, audio_scale=audio_scale, clip_vision_output=clip_vision_output,
                start_image=start_image, previous_frames=previous, **speakers)
        except NodeInputError as err:
            raise _renamed(err) from None
        (out,) = sample(ctx, model=patched, seed=pass_seed, steps=steps, cfg=cfg, sampler_name=sampler_name,
                        scheduler=scheduler, positive=pos, negative=neg, latent_image=latent, denoise=denoise)
        (frames,) = decode(ctx, samples=out, vae=vae)
        return frames[int(trim):]

    frames = one_pass(int(seed), None)
    for i in range(extends):
        ctx.check_interrupt()
        frames = torch.cat([frames, one_pass(int(seed) + i + 1, frames)], dim=0)
    return (frames[:total], audio)
