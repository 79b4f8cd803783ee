"""christian-byrne's audio-separation-nodes-comfyui (``src/crop.py``, ``src/separation.py``,
2024-07-03 on).

- AudioCrop: the waveform from ``start_time`` to ``end_time``, each ``"M:SS"`` (or plain
  seconds) read as the pack reads it: ``60 x int(first part) + int(second part)`` (a third
  part is ignored, fractions are refused as the pack's ``int`` refuses them), times the
  sample rate; both clamped to the last sample (so the crop never includes it) and to 0; a
  start after the end is an error.
- AudioSeparation lives in ``separation.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _seconds(value: Any, name: str) -> int:
    text = str(value)
    if ":" not in text:
        text = f"00:{text}"
    parts = text.split(":")
    try:
        return 60 * int(parts[0]) + int(parts[1])
    except ValueError:
        raise NodeInputError(name, f"{value!r} is not a time the pack reads (whole minutes and seconds)",
                             "write it as M:SS, e.g. 1:05, or whole seconds") from None


@executor("AudioCrop")
def audio_crop(ctx: ExecContext, audio: Any, start_time: str, end_time: str, **_: Any) -> tuple:
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim < 1 or not isinstance(rate, int) or rate <= 0:
        raise NodeInputError("audio", f"expected an AUDIO value {{waveform, sample_rate}}, got {type(audio).__name__}",
                             "connect a Load Audio output")
    last = waveform.shape[-1] - 1
    start = max(min(_seconds(start_time, "start_time") * rate, last), 0)
    end = max(min(_seconds(end_time, "end_time") * rate, last), 0)
    if start > end:
        raise NodeInputError("start_time", f"start {start_time} is after end {end_time} (within the "
                             f"{waveform.shape[-1] / rate:.2f} s of audio)", "give a start before the end")
    return ({"waveform": waveform[..., start:end], "sample_rate": rate},)
