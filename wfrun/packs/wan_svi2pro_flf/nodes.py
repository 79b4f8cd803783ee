"""The pack's two nodes (``nodes.py``, 2026-02-18 on; the 2026-02-20 layout makes
``end_samples`` optional, the computation is unchanged).

``WanImageToVideoSVIProFLF``: KJNodes' WanImageToVideoSVIPro (``nodes.svi_pro``: anchor
latent frames, the previous clip's last ``motion_latent_count`` latent frames, Wan 2.1's
latent mean up to ``(length - 1) // 4 + 1`` latent frames, mask 0 on the first) with two
differences of the pack's own:

- anchor and motion frames longer than the clip are cut to it (KJNodes' fails), and a batch
  of several anchors works (the padding takes the anchor's batch);
- ``end_samples`` (a LATENT of the clip's end, e.g. VAEEncode of the last frame): its last
  ``min(T_end, T')`` latent frames replace the concat image's last ones and are locked
  (mask 0), as ComfyUI's WanFirstLastFrameToVideo locks its end frame. An end of one video
  is repeated over a batch. An end whose channels or size differ from the anchor's is
  skipped, as in the pack; wfrun says so in the log.

The concat image and mask keep the anchor's dtype; the output LATENT is float32 zeros
``[B, 16, T', h, w]``.

``WanCutLastSlot``: drops the last ``max(1, min(slots_to_cut, T - 1))`` latent frames of a
LATENT (the pack's formula: at least one frame stays, except for a one-frame latent, which
the formula would empty; wfrun refuses that by name instead of handing on an empty latent).
Other keys of the LATENT are kept.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.models.families import WAN21
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.svi_pro import latent_mean_padding, motion_frames, video_latents

log = logging.getLogger(__name__)

NODE = "WanImageToVideoSVIProFLF"


def flf_concat(anchor: torch.Tensor, prev: torch.Tensor | None, end: torch.Tensor | None, length: int,
               motion_latent_count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The concat latent image ``[B, 16, T', h, w]`` and mask ``[1, 1, T', h, w]``."""
    total = (int(length) - 1) // 4 + 1
    base = torch.cat(motion_frames(anchor, prev, motion_latent_count), dim=2)
    if base.shape[2] < total:
        concat = torch.cat([base, latent_mean_padding(anchor, total - base.shape[2])], dim=2)
    else:
        concat = base[:, :, :total].clone()
    locked = 0
    if end is not None:
        if end.shape[0] == 1 and anchor.shape[0] > 1:
            end = end.repeat(anchor.shape[0], 1, 1, 1, 1)
        if end.shape[1] == anchor.shape[1] and end.shape[-2:] == anchor.shape[-2:]:
            if end.shape[0] != anchor.shape[0]:
                raise NodeInputError("end_samples", f"a batch of {end.shape[0]} end latents for {anchor.shape[0]} "
                                     "anchors", "give one end latent, or one per anchor")
            locked = min(end.shape[2], total)
            if locked:
                concat[:, :, -locked:] = end[:, :, -locked:].to(concat.device, concat.dtype)
        else:
            log.warning("%s: end_samples of %s do not match the anchor's %s; the end is not locked (as in the pack)",
                        NODE, tuple(end.shape[1:]), tuple(anchor.shape[1:]))
    mask = anchor.new_ones(1, 1, total, *anchor.shape[-2:])
    mask[:, :, :1] = 0.0
    if locked:
        mask[:, :, -locked:] = 0.0
    return concat, mask


@executor(NODE)
def wan_image_to_video_svi_pro_flf(ctx: ExecContext, positive: Any, negative: Any, length: int, prev_samples: Any,
                                   anchor_samples: Any, motion_latent_count: int, end_samples: Any = None,
                                   **_: Any) -> tuple:
    anchor = video_latents(anchor_samples, "anchor_samples", NODE, batch_one=False)
    prev = None if prev_samples is None else video_latents(prev_samples, "prev_samples", NODE, batch_one=False)
    end = None
    if end_samples is not None:
        end = end_samples.get("samples") if isinstance(end_samples, dict) else None
        if not isinstance(end, torch.Tensor) or end.ndim != 5:
            raise NodeInputError("end_samples", "expected a video LATENT (samples [B, C, T, h, w])",
                                 "connect a VAEEncode of the end frame")
    concat, mask = flf_concat(anchor, prev, end, length, motion_latent_count)
    values = {"concat_latent_image": concat, "concat_mask": mask}
    positive = set_values(positive, values, input_name="positive")
    negative = set_values(negative, values, input_name="negative")
    latent = torch.zeros(anchor.shape[0], WAN21.channels, concat.shape[2], *anchor.shape[-2:])
    return (positive, negative, {"samples": latent})


@executor("WanCutLastSlot")
def wan_cut_last_slot(ctx: ExecContext, latents: Any, slots_to_cut: int, **_: Any) -> tuple:
    samples = latents.get("samples") if isinstance(latents, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        raise NodeInputError("latents", "expected a video LATENT (samples [B, C, T, h, w])",
                             "connect a sampler's output or a VAEEncode")
    frames = samples.shape[2]
    if frames < 2:
        raise NodeInputError("latents", f"{frames} latent frame(s): none can be cut and one kept",
                             "cut a latent of two or more frames (9 or more video frames)")
    cut = max(1, min(int(slots_to_cut), frames - 1))
    return ({**latents, "samples": samples[:, :, :frames - cut].clone()},)
