"""WanVideoPassImagesFromSamples (the pack's ``nodes_utility.py``, 2025-09-08 on; its second
output, ``output_path``, from 2025-09-13).

The pack's MultiTalk/InfiniteTalk long-video sampling decodes each window itself and hands
on the whole video in its LATENT as ``video`` (``[frames, H, W, 3]`` in -1..1), with the
path of a video it may have written as ``output_path``; this node returns those frames
moved to 0..1 (clamped to -1..1 first) and the path ("" without one). The pack changes the
tensor in place; wfrun returns a new one, so the LATENT can still feed other nodes.

No wfrun sampler decodes while sampling (wfrun does not run MultiTalk/InfiniteTalk), so a
LATENT without ``video`` is refused by name, where the pack fails on ``None``.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor


@executor("WanVideoPassImagesFromSamples")
def wanvideo_pass_images_from_samples(ctx: ExecContext, samples: Any, **_: Any) -> tuple:
    if not isinstance(samples, dict):
        raise NodeInputError("samples", f"expected a LATENT, got {type(samples).__name__}")
    video = samples.get("video")
    if video is None:
        raise NodeInputError("samples", "these samples hold no decoded video: only MultiTalk/InfiniteTalk "
                             "sampling decodes while it samples, and wfrun does not run it",
                             "decode the samples with WanVideoDecode")
    if not isinstance(video, torch.Tensor) or video.ndim != 4 or video.shape[-1] not in (3, 4):
        raise NodeInputError("samples", f"the samples' video is {getattr(video, 'shape', type(video).__name__)}",
                             "expected frames [frames, height, width, 3] in -1..1")
    images = video.detach().clamp(-1.0, 1.0).add(1.0).div(2.0)  # in the video's dtype, as the pack
    return (images.cpu().float(), str(samples.get("output_path", "") or ""))
