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
from wfrun.nodes.executor import ExecContext, NodeInputError, executor


def _samples(latent: Any, input_name: str) -> torch.Tensor:
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        raise NodeInputError(input_name, "expected a video LATENT (samples [B, C, T, h, w])",
                             "connect a VAEEncode of the anchor image or a sampler's output")
    if samples.shape[0] != 1:
        raise NodeInputError(input_name, f"a batch of {samples.shape[0]} latents; WanImageToVideoSVIPro takes one",
                             "encode or sample one video at a time")
    if samples.shape[1] != WAN21.channels:
        raise NodeInputError(input_name, f"{samples.shape[1]}-channel latents; WanImageToVideoSVIPro takes Wan 2.1 "
                             f"VAE latents ({WAN21.channels} channels)",
                             "use the Wan 2.1 VAE (Wan 2.2 A14B uses it too)")
    return samples


def svi_pro_concat(anchor: torch.Tensor, prev: torch.Tensor | None, length: int,
                   motion_latent_count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The concat latent image ``[1, 16, T', h, w]`` and concat mask ``[1, 1, T', h, w]``
    (see the module docs) from raw anchor latents and, optionally, the previous clip's."""
    total = (int(length) - 1) // 4 + 1
    parts = [anchor]
    count = int(motion_latent_count)
    if prev is not None and count > 0:
        motion = prev[:, :, -count:]
        if motion.shape[-2:] != anchor.shape[-2:]:
            raise NodeInputError("prev_samples", f"latents of {tuple(motion.shape[-2:])} (h, w) do not match the "
                                 f"anchor's {tuple(anchor.shape[-2:])}",
                                 "sample the previous clip at the anchor's size")
        parts.append(motion.to(anchor.device, anchor.dtype))
    given = sum(p.shape[2] for p in parts)
    if given > total:
        raise NodeInputError("length", f"{given} anchor and motion latent frames do not fit in the {total} latent "
                             f"frames of length {length}", "raise length or lower motion_latent_count")
    padding = WAN21.process_out(anchor.new_zeros(1, anchor.shape[1], total - given, *anchor.shape[-2:]))
    concat = torch.cat([*parts, padding], dim=2)
    mask = anchor.new_ones(1, 1, total, *anchor.shape[-2:])
    mask[:, :, :1] = 0.0
    return concat, mask


@executor("WanImageToVideoSVIPro")
def wan_image_to_video_svi_pro(ctx: ExecContext, positive: Any, negative: Any, length: int, anchor_samples: Any,
                               motion_latent_count: int, prev_samples: Any = None, **_: Any) -> tuple:
    anchor = _samples(anchor_samples, "anchor_samples")
    prev = None if prev_samples is None else _samples(prev_samples, "prev_samples")
    concat, mask = svi_pro_concat(anchor, prev, length, motion_latent_count)
    values = {"concat_latent_image": concat, "concat_mask": mask}
    positive = set_values(positive, values, input_name="positive")
    negative = set_values(negative, values, input_name="negative")
    latent = torch.zeros(anchor.shape[0], WAN21.channels, concat.shape[2], *anchor.shape[-2:])
    return (positive, negative, {"samples": latent})
