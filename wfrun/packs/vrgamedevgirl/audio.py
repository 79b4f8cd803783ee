"""``VRGDG_CreateSilentAudio`` (``VRGDG_AudioNodes.py``): no inputs; five seconds of stereo
silence at 44,100 Hz (``zeros(1, 2, 220500)`` float32), the stand-in audio the pack's HuMo
workflows give the sampler when a shot has no sound. The pack also names it
``"filename": "silence_5s"`` in the AUDIO dict; wfrun keeps that key."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor

SAMPLE_RATE = 44100
SECONDS = 5
CHANNELS = 2


@executor("VRGDG_CreateSilentAudio")
def create_silent_audio(ctx: ExecContext, **_: Any) -> tuple:
    waveform = torch.zeros((1, CHANNELS, SAMPLE_RATE * SECONDS), dtype=torch.float32)
    return ({"waveform": waveform, "sample_rate": SAMPLE_RATE, "filename": "silence_5s"},)
