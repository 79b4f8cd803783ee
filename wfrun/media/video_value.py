"""The VIDEO value that ComfyUI's core video nodes pass between them.

ComfyUI's ``VIDEO`` is an object with several implementations (a file read lazily, tensors,
a list of clips). wfrun keeps one small frozen value: decoded frames as an ``IMAGE``
(float32 ``[frames, height, width, 3]`` in 0..1), the frame rate, the optional ``AUDIO``
(``{"waveform": [1, channels, samples], "sample_rate": int}``) and the bit depth the video
has (a loaded file) or will be written with (CreateVideo). ``source`` names the file a
LoadVideo read, for messages only: saving always re-encodes the frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True, eq=False)
class Video:
    images: torch.Tensor
    fps: float
    audio: dict[str, Any] | None = None
    bit_depth: int = 8
    source: Path | None = None

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def frame_count(self) -> int:
        return int(self.images.shape[0])
