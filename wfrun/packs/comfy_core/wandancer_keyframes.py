"""ComfyUI's WanDancerPadKeyframes and WanDancerPadKeyframesList (``comfy_extras/nodes_wandancer.py``):
keyframe images spread over segments of a dance video whose length the music sets, with the
music cut to each segment.

At 30 fps with a 0.2 s allowance, the music makes ``int((seconds - 0.2) / (segment_length /
30)) + 1`` segments (none under 0.2 s), ``total`` frames in all; the ``B`` images are spread
one every ``total / B`` frames. Segment ``i`` places images at ``ceil(k * interval)`` for
``k = 0, 1, …`` while ``k * interval < end - interval``, then one more at ``end`` (the
segment's last frame), counting on from the images the segments before it placed the same
way; a position past the segment or an image past the batch is left out. The mask is 1 at
the placed frames; other frames stay zero. Two images at one frame (more images than frames):
the later one is kept, as ComfyUI's index assignment leaves it on the CPU. The audio of
segment ``i`` is ``[i * d, min((i + 1) * d, seconds))`` seconds, ``d = segment_length / 30``,
cut at ``int(t * rate)`` samples. The List node gives segments ``0 … num_segments - 1`` as lists.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core.audio_edit_nodes import audio_input
from wfrun.packs.comfy_core.values import image_input, int_input

FPS, BUFFER_SECONDS = 30, 0.2


def _placed(total: int, images: int, segment_length: int, index: int) -> list[tuple[int, int]]:
    """``(frame, image)`` pairs of segment ``index``, in ComfyUI's order (before filtering)."""
    interval = float(total) / images
    segments = int(math.ceil(total / segment_length))

    def end_of(i: int) -> int:
        return (total - segment_length * i - 1) if i == segments - 1 else (segment_length - 1)

    def count(end: int) -> int:
        n = 0
        while n * interval < end - interval:
            n += 1
        return n

    before = sum(count(end_of(i)) for i in range(index))
    end = end_of(index)
    n = count(end)
    return [(int(math.ceil(interval * k)), before + k) for k in range(n)] + [(end, before + n)]


def pad_keyframes(images: torch.Tensor, segment_length: int, index: int, audio: Any) -> tuple:
    waveform, rate = audio_input(audio, "audio")
    frames, height, width, channels = images.shape
    seconds = waveform.shape[-1] / rate
    duration = segment_length / FPS
    segments = int((seconds - BUFFER_SECONDS) / duration) + 1 if seconds > BUFFER_SECONDS else 0
    total = segments * segment_length
    mask = torch.zeros((segment_length, height, width), dtype=images.dtype)
    keyframes = torch.zeros((segment_length, height, width, channels), dtype=images.dtype)
    if total > 0 and frames > 0:
        for frame, image in _placed(total, frames, segment_length, index):
            if image < frames and frame < segment_length:
                mask[frame] = 1
                keyframes[frame] = images[image]
    start = index * duration
    end = min(start + duration, seconds)
    cut = {"waveform": waveform[:, :, int(start * rate):int(end * rate)], "sample_rate": rate}
    return keyframes, mask, cut


def _inputs(node: str, images: Any, segment_length: Any, audio: Any) -> tuple[torch.Tensor, int]:
    if audio is None:
        raise NodeInputError("audio", f"{node} needs the music (its length sets the segments)", "connect a LoadAudio")
    return image_input(images, "images").cpu(), int_input(segment_length, "segment_length", 1, 10000)


@executor("WanDancerPadKeyframes")
def wan_dancer_pad_keyframes(ctx: ExecContext, images: Any, segment_length: Any, segment_index: Any,
                             audio: Any = None, **_: Any) -> tuple:
    images, length = _inputs("WanDancerPadKeyframes", images, segment_length, audio)
    return pad_keyframes(images, length, int_input(segment_index, "segment_index", 0, 100), audio)


@executor("WanDancerPadKeyframesList")
def wan_dancer_pad_keyframes_list(ctx: ExecContext, images: Any, segment_length: Any, num_segments: Any,
                                  audio: Any = None, **_: Any) -> tuple:
    images, length = _inputs("WanDancerPadKeyframesList", images, segment_length, audio)
    count = int_input(num_segments, "num_segments", 1, 100)
    outputs = [pad_keyframes(images, length, i, audio) for i in range(count)]
    keyframes, masks, cuts = zip(*outputs)
    return list(keyframes), list(masks), list(cuts)
