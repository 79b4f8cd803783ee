"""Wan 2.2 S2V's audio features per video frame, as both ComfyUI's WanSoundImageToVideo and
the wrapper's WanVideoAddS2VEmbeds read them (the official ``get_audio_embed_bucket_fps``
with ``m = 0``): wav2vec2's hidden states at 50 per second, resampled linearly to 30 per
second, then read at 16 video frames per second in whole buckets of frames."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

#: wav2vec2's feature rate, the rate the features are resampled to, and the video's frame rate.
AUDIO_RATE, RESAMPLED_RATE, VIDEO_FPS = 50, 30, 16


def resample_features(features: torch.Tensor, rate_in: int = AUDIO_RATE, rate_out: int = RESAMPLED_RATE) -> torch.Tensor:
    """``[layers, T, C]`` at ``rate_in`` → ``[layers, int(T / rate_in * rate_out), C]``, linear
    with the end points kept (ComfyUI's and the wrapper's ``linear_interpolation``)."""
    steps = int(features.shape[1] / float(rate_in) * rate_out)
    out = F.interpolate(features.transpose(1, 2), size=steps, mode="linear", align_corners=True)
    return out.transpose(1, 2)


def frame_steps(frames: int, available: int) -> list[int]:
    """Which resampled step each video frame reads (-1: past the sound) when the audio is cut
    into whole buckets of ``frames`` video frames covering it (plus one): frame ``i`` reads
    ``round(i * 30 / 16)`` (numpy's round); the padded length only bounds the index. As many
    entries as the buckets hold frames."""
    buckets = int(available / (frames * (RESAMPLED_RATE / VIDEO_FPS))) + 1
    count = buckets * frames
    padded = math.ceil(count / VIDEO_FPS * RESAMPLED_RATE)
    times = np.linspace(0.0, count / VIDEO_FPS, count, endpoint=False)
    steps = np.clip(np.round(times * RESAMPLED_RATE).astype(int), 0, padded - 1)
    return [int(s) if s < available else -1 for s in steps]


def pick_frames(features: torch.Tensor, steps: list[int]) -> torch.Tensor:
    """``[layers, T, C]`` read at ``steps`` (zeros for -1) → ``[1, layers, C, len(steps)]``."""
    zero = features.new_zeros(features.shape[0], features.shape[2])
    picked = torch.stack([features[:, s] if s >= 0 else zero for s in steps])  # [frames, layers, C]
    return picked.permute(1, 2, 0).unsqueeze(0)
