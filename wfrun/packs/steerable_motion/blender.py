"""WanVideoBlender ("WAN Video Blender"): two clips joined with a linear cross-fade.

The last ``overlap_frames`` frames of ``video_1`` and the first ``overlap_frames`` of
``video_2`` are mixed frame by frame with weights ``a = linspace(0, 1, overlap)``
(``tail * (1 - a) + head * a``: the first blended frame is all ``video_1``, the last all
``video_2``), so the result has ``len(video_1) + len(video_2) - overlap`` frames. A
``video_2`` of another size is resized to ``video_1``'s with Lanczos first, as the pack does.

This is what joins a continuation (VideoContinuationGenerator -> sampler -> decode) to the
clip it continues, so the overlap frames the sampler regenerated fade in instead of
repeating.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def cross_fade(tail: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Per-frame linear mix of two equally long clips, from all ``tail`` to all ``head``."""
    weights = torch.linspace(0, 1, tail.shape[0], dtype=tail.dtype, device=tail.device).view(-1, 1, 1, 1)
    return tail * (1 - weights) + head * weights


@executor("WanVideoBlender")
def wan_video_blender(ctx: ExecContext, overlap_frames: int, video_1: Any, video_2: Any, **_: Any) -> tuple:
    for name, video in (("video_1", video_1), ("video_2", video_2)):
        if not isinstance(video, torch.Tensor) or video.ndim != 4:
            raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]")
    overlap = int(overlap_frames)
    if overlap < 1:
        raise NodeInputError("overlap_frames", f"overlap_frames is {overlap}; it must be at least 1")
    height, width = video_1.shape[1:3]
    if video_2.shape[1:3] != video_1.shape[1:3]:
        video_2 = upscale_image(video_2.float(), width, height, "lanczos")
    if video_1.shape[-1] != video_2.shape[-1]:
        raise NodeInputError("video_2", f"video_2 has {video_2.shape[-1]} channels, video_1 {video_1.shape[-1]}",
                             "give both videos the same channels (RGB)")
    if video_1.shape[0] < overlap or video_2.shape[0] < overlap:
        raise NodeInputError("overlap_frames", f"one of the videos ({video_1.shape[0]} and {video_2.shape[0]} "
                             f"frames) is shorter than overlap_frames={overlap}",
                             "lower overlap_frames or give longer videos")
    video_1, video_2 = video_1.float(), video_2.float().to(video_1.device)
    blended = cross_fade(video_1[-overlap:], video_2[:overlap])
    return (torch.cat([video_1[:-overlap], blended, video_2[overlap:]]).cpu(),)
