"""``Resize To Megapixels`` and ``Audio Duration`` of ComfyUI_Fictiverse, as the pack computes
them (unchanged from ae37096, 2025-07-28, and 2d5a7da, 2025-08-29, to 2026-05).

- Resize To Megapixels: ``target = int(megapixels * 1_000_000)`` pixels (decimal
  megapixels) at the aspect ``width / height``: ``h = sqrt(target / aspect)``,
  ``w = h * aspect``, each rounded to a multiple of ``multiple_of`` with Python's
  ``round`` (halves to even). Only numbers; no image is touched.
- Audio Duration: ``duration_ms = int(samples / sample_rate * 1000)`` (truncated) and
  ``duration_sec = duration_ms / 1000``.

Some saved files show ``Audio Duration`` with four outputs (``frames``, ``audio_path``
besides these two) while naming this pack: another pack's node of the same name was
loaded at the time. The first two outputs are this pack's; a link from the other two is
an error of the graph (no such output), never a guessed value.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def megapixel_size(width: int, height: int, megapixels: float, multiple_of: int) -> tuple[int, int]:
    aspect = width / height
    target = int(megapixels * 1_000_000)
    new_height = math.sqrt(target / aspect)
    new_width = new_height * aspect
    return int(round(new_width / multiple_of) * multiple_of), int(round(new_height / multiple_of) * multiple_of)


@executor("Resize To Megapixels", pure=True)
def resize_to_megapixels(ctx: ExecContext, width: int, height: int, megapixels: float, multiple_of: int,
                         **_: Any) -> tuple:
    for name, value in (("width", width), ("height", height), ("multiple_of", multiple_of)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise NodeInputError(name, f"expected a positive number, found {value!r}")
    if not isinstance(megapixels, (int, float)) or megapixels < 0:
        raise NodeInputError("megapixels", f"expected a number of megapixels, found {megapixels!r}")
    return megapixel_size(int(width), int(height), float(megapixels), int(multiple_of))


@executor("Audio Duration")
def audio_duration(ctx: ExecContext, audio: Any, **_: Any) -> tuple:
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or not isinstance(rate, (int, float)) or rate <= 0:
        raise NodeInputError("audio", "expected an AUDIO (a waveform tensor and its sample_rate)")
    ms = int((waveform.shape[-1] / rate) * 1000)
    return (ms, float(ms) / 1000.0)
