"""``AudioVolumeNormalization`` (``nodes/audio/audio_nodes_utility.py`` with
``audio_utils.normalize_volume``, unchanged since 2024-10-03): one gain for the whole
waveform (every batch item and channel together) that brings its RMS level to
``target_level`` dB:

    rms = sqrt(mean(w**2));  gain = 10 ** ((target_level - 20*log10(rms + 1e-6)) / 20);  w * gain

Nothing is clipped, as in the pack: a quiet clip raised to a high target may leave -1..1.
The sample rate passes through.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor
from wfrun.nodes import values


@executor("AudioVolumeNormalization")
def audio_volume_normalization(ctx: ExecContext, audio: Any, target_level: float, **_: Any) -> tuple:
    waveform, rate = values.audio(audio, "audio")
    rms = torch.sqrt(torch.mean(waveform.float() ** 2)) if waveform.numel() else torch.tensor(0.0)
    current_db = 20.0 * math.log10(float(rms) + 1e-6)
    gain = 10.0 ** ((float(target_level) - current_db) / 20.0)
    return ({"waveform": waveform * gain, "sample_rate": rate},)
