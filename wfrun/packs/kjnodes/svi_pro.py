"""KJNodes' WanImageToVideoSVIPro (``nodes/nodes.py``, added 2025-12-28; unchanged up to
the newest revision we read): the conditioning of Stable Video Infinity 2.0 Pro, whose
LoRAs continue a video clip after clip from an anchor frame and the tail of the last clip.

Unlike ComfyUI's WanImageToVideo it encodes nothing: it takes latents already made, as
raw VAE latents (what VAEEncode and the samplers hand out):

- ``anchor_samples``: the anchor's latent frames (usually one: the start image encoded);
- ``prev_samples`` (optional): the previous clip's latents; its last
  ``motion_latent_count`` latent frames are the "motion latents" (all of them when it has
  fewer). With no ``prev_samples`` or a count of 0 only the anchor is used.

Both CONDITIONINGs get the same ``concat_latent_image``: anchor frames, then the motion
frames, then Wan 2.1's latent mean (zeros through ``process_out``, so they are zero once the
sampler normalises them) up to ``(length - 1) // 4 + 1`` latent frames; and the same
``concat_mask`` ``[1, 1, T', h, w]`` that is 0 on the first latent frame only and 1 on
every other, so the motion frames sit in the concat image but are marked as frames to make,
as in the pack (the SVI LoRAs were trained on that). The output LATENT is zeros
``[B, 16, T', h, w]`` with ``h, w`` the anchor's.

As in the pack, only a batch of one works (the pack's padding has batch 1 and its
``torch.cat`` fails otherwise) and only Wan 2.1 latents (16 channels: the padding is
Wan 2.1's latent format); wfrun refuses those cases by name instead of failing inside,
and also anchor plus motion frames longer than ``length`` (the pack's padding of negative
size fails) and motion latents of another size than the anchor's. The concat image and
mask keep the anchor's dtype and the output latent is float32, as in the pack.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families import WAN21
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, executor
from wfrun.nodes.svi_pro import svi_pro_concat, video_latents


@executor("WanImageToVideoSVIPro")
def wan_image_to_video_svi_pro(ctx: ExecContext, positive: Any, negative: Any, length: int, anchor_samples: Any,
                               motion_latent_count: int, prev_samples: Any = None, **_: Any) -> tuple:
    anchor = video_latents(anchor_samples, "anchor_samples", "WanImageToVideoSVIPro")
    prev = None if prev_samples is None else video_latents(prev_samples, "prev_samples", "WanImageToVideoSVIPro")
    concat, mask = svi_pro_concat(anchor, prev, length, motion_latent_count)
    values = {"concat_latent_image": concat, "concat_mask": mask}
    positive = set_values(positive, values, input_name="positive")
    negative = set_values(negative, values, input_name="negative")
    latent = torch.zeros(anchor.shape[0], WAN21.channels, concat.shape[2], *anchor.shape[-2:])
    return (positive, negative, {"samples": latent})
