"""WanVideoAddS2VEmbeds (``s2v/nodes.py``, 2025-08-26 on): Wan 2.2 S2V's audio, reference
and pose for WanVideoSampler, added to image embeds (the pack's ``audio_embeds`` entry;
the sampler's use is ``sampling.s2v_wrapper``).

The audio bucket, as the pack builds it from AudioEncoderEncode's output (ComfyUI's
core audio encoder nodes, which the pack's S2V workflows use): every hidden layer
``[layers, T, C]`` at 50 per second resampled to 30 per second, *cut to the video's*
``num_frames * 30 // 16`` steps (ComfyUI's node does not cut), then read in whole buckets of
``frame_window_size`` video frames at 16 fps (``sampling.s2v_audio``, shared with ComfyUI's
node): ``[1, layers, C, N]``; ``audio_frame_count`` is N. ``ref_latent`` and ``pose_latent``
are WanVideoEncode's latents, kept as given. ``vae`` serves the framepack loop
(``enable_framepack``, ``sampling.s2v_framepack``) and is required with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds, WanVAE
from wfrun.sampling.s2v_audio import RESAMPLED_RATE, VIDEO_FPS, frame_steps, pick_frames, resample_features
from wfrun.sampling.s2v_wrapper import WrapperS2V


def audio_bucket(encoder_output: Any, num_frames: int, frame_window_size: int) -> torch.Tensor:
    """The pack's ``audio_embed_bucket`` ``[1, layers, C, N]`` (see the module docs)."""
    layers = encoder_output.get("encoded_audio_all_layers") if isinstance(encoder_output, dict) else None
    if not layers or not all(isinstance(h, torch.Tensor) and h.ndim == 3 and h.shape[0] == 1 for h in layers):
        raise NodeInputError("audio_encoder_output", "expected the output of AudioEncoderEncode (every hidden "
                             "layer, [1, T, C] each)", "connect AudioEncoderEncode")
    feats = resample_features(torch.cat([h.float() for h in layers]))
    feats = feats[:, :int(num_frames) * RESAMPLED_RATE // VIDEO_FPS]
    if feats.shape[1] == 0:
        raise NodeInputError("audio_encoder_output", "the audio is too short to give a single feature step",
                             "give a longer sound")
    return pick_frames(feats, frame_steps(int(frame_window_size), feats.shape[1]))


def _latent(value: Any, name: str) -> torch.Tensor | None:
    if value is None:
        return None
    samples = value.get("samples") if isinstance(value, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5 or samples.shape[0] != 1:
        raise NodeInputError(name, "expected the LATENT of one encoded image or video ([1, 16, T, H/8, W/8])",
                             "connect WanVideoEncode")
    return samples.float()


@executor("WanVideoAddS2VEmbeds")
def wanvideo_add_s2v_embeds(ctx: ExecContext, embeds: Any, frame_window_size: int, audio_scale: float,
                            pose_start_percent: float, pose_end_percent: float, *, audio_encoder_output: Any = None,
                            ref_latent: Any = None, pose_latent: Any = None, vae: Any = None,
                            enable_framepack: bool, **_: Any) -> tuple:
    if not isinstance(embeds, ImageEmbeds):
        raise NodeInputError("embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(embeds).__name__}",
                             "connect WanVideoEmptyEmbeds")
    if enable_framepack and (vae is None or not isinstance(vae, WanVAE)):
        raise NodeInputError("vae", "the framepack loop encodes and decodes its windows with this VAE: "
                             f"got {type(vae).__name__}", "connect WanVideoVAELoader")
    if int(frame_window_size) < 1:
        raise NodeInputError("frame_window_size", "frame_window_size must be at least 1")
    audio = None
    if audio_encoder_output is not None:
        audio = audio_bucket(audio_encoder_output, embeds.num_frames, int(frame_window_size))
    s2v = WrapperS2V(audio=audio, audio_scale=float(audio_scale), ref_latent=_latent(ref_latent, "ref_latent"),
                     pose_latent=_latent(pose_latent, "pose_latent"), pose_start_percent=float(pose_start_percent),
                     pose_end_percent=float(pose_end_percent), frame_window_size=int(frame_window_size),
                     framepack=bool(enable_framepack), vae=vae if enable_framepack else None)
    return (dataclasses.replace(embeds, s2v=s2v), int(audio.shape[-1]) if audio is not None else 0)
