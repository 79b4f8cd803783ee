"""ComfyUI's audio editing nodes of the Wan templates (``comfy_extras/nodes_audio.py`` at the
revision of our comfy-core specs): TrimAudioDuration (Dancer cuts its music to the video's
length) and AudioConcat (InfiniteTalk joins two speakers' tracks).

AUDIO is ``{"waveform": float [batch, channels, samples], "sample_rate": int}``.

* TrimAudioDuration: ``duration`` seconds from ``start_index`` seconds (negative counts
  from the end), both rounded to whole samples and clamped into the track; an empty result
  is an error, as in ComfyUI. An empty track comes back unchanged.
* AudioConcat: ``audio2`` after (or before) ``audio1``; a mono track is made stereo by
  doubling its channel first, and the track of the lower rate is resampled to the higher
  (windowed-sinc, as ``torchaudio.functional.resample`` with its defaults:
  :func:`wfrun.media.audio.resample`). Tracks of other channel counts (neither mono nor the
  same) cannot be joined: refused by name where ComfyUI fails in ``torch.cat``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.media.audio import resample
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.values import audio as audio_input
from wfrun.packs.comfy_core.values import choice_input, float_input

log = logging.getLogger(__name__)


@executor("TrimAudioDuration")
def trim_audio_duration(ctx: ExecContext, audio: Any, start_index: Any, duration: Any, **_: Any) -> tuple:
    waveform, rate = audio_input(audio, "audio")
    start = float_input(start_index, "start_index")
    length = float_input(duration, "duration", 0.0)
    samples = waveform.shape[-1]
    if samples == 0:
        return (audio,)
    first = int(round(start * rate)) + (samples if start < 0 else 0)
    first = max(0, min(first, samples))
    last = max(0, min(first + int(round(length * rate)), samples))
    if first >= last:
        raise NodeInputError("start_index", f"from {start} s for {length} s leaves nothing of a "
                             f"{samples / rate:.2f} s track", "start inside the track and give a duration above 0")
    return ({"waveform": waveform[..., first:last], "sample_rate": rate},)


@executor("AudioConcat")
def audio_concat(ctx: ExecContext, audio1: Any, audio2: Any, direction: Any, **_: Any) -> tuple:
    first, rate1 = audio_input(audio1, "audio1")
    second, rate2 = audio_input(audio2, "audio2")
    direction = choice_input(direction, "direction", ("after", "before"))
    if first.shape[1] == 1:
        first = first.repeat(1, 2, 1)
    if second.shape[1] == 1:
        second = second.repeat(1, 2, 1)
    if first.shape[:2] != second.shape[:2]:
        raise NodeInputError("audio2", f"audio2 is {list(second.shape[:2])} (batch, channels) after making mono "
                             f"stereo, audio1 {list(first.shape[:2])}", "join tracks of the same channel layout")
    rate = max(rate1, rate2)
    if rate1 != rate2:
        log.info("AudioConcat: resampling the %d Hz track to %d Hz", min(rate1, rate2), rate)
        if rate1 < rate2:
            first = resample(first, rate1, rate2)
        else:
            second = resample(second, rate2, rate1)
    parts = (first, second) if direction == "after" else (second, first)
    return ({"waveform": torch.cat(parts, dim=2), "sample_rate": rate},)
