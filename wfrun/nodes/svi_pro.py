"""The conditioning latents of Stable Video Infinity 2.0 Pro, shared by the packs that build
them from latents already made: KJNodes' WanImageToVideoSVIPro and Well-Made's
WanImageToVideoSVIProFLF (which adds an end block). Here in ``nodes`` because packs do not
import each other.

The concat latent image is the anchor's latent frames, then the previous clip's last
``motion_latent_count`` latent frames ("motion latents"), then Wan 2.1's latent mean (zeros
through ``process_out``, so zero once the sampler normalises them) up to
``(length - 1) // 4 + 1`` latent frames; the concat mask ``[1, 1, T', h, w]`` is 0 on the
first latent frame (the anchor) and 1 on every other."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.families import WAN21
from wfrun.nodes.executor import NodeInputError


def video_latents(latent: Any, input_name: str, node: str, *, batch_one: bool = True) -> torch.Tensor:
    """The ``samples`` of a Wan 2.1 video LATENT, refused by name when it is not one (or,
    with ``batch_one``, holds several videos)."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        raise NodeInputError(input_name, "expected a video LATENT (samples [B, C, T, h, w])",
                             "connect a VAEEncode of the anchor image or a sampler's output")
    if batch_one and samples.shape[0] != 1:
        raise NodeInputError(input_name, f"a batch of {samples.shape[0]} latents; {node} takes one",
                             "encode or sample one video at a time")
    if samples.shape[1] != WAN21.channels:
        raise NodeInputError(input_name, f"{samples.shape[1]}-channel latents; {node} takes Wan 2.1 "
                             f"VAE latents ({WAN21.channels} channels)",
                             "use the Wan 2.1 VAE (Wan 2.2 A14B uses it too)")
    return samples


def motion_frames(anchor: torch.Tensor, prev: torch.Tensor | None, motion_latent_count: int) -> list[torch.Tensor]:
    """The anchor, then the last ``motion_latent_count`` latent frames of ``prev`` (all of
    them when it has fewer; none without ``prev`` or with a count of 0)."""
    parts = [anchor]
    count = int(motion_latent_count)
    if prev is not None and count > 0:
        motion = prev[:, :, -count:]
        if motion.shape[-2:] != anchor.shape[-2:]:
            raise NodeInputError("prev_samples", f"latents of {tuple(motion.shape[-2:])} (h, w) do not match the "
                                 f"anchor's {tuple(anchor.shape[-2:])}",
                                 "sample the previous clip at the anchor's size")
        if motion.shape[0] != anchor.shape[0]:
            raise NodeInputError("prev_samples", f"a batch of {motion.shape[0]} latents for an anchor batch of "
                                 f"{anchor.shape[0]}", "give as many previous clips as anchors")
        parts.append(motion.to(anchor.device, anchor.dtype))
    return parts


def latent_mean_padding(like: torch.Tensor, frames: int) -> torch.Tensor:
    """``frames`` latent frames of Wan 2.1's latent mean, shaped and typed as ``like``."""
    return WAN21.process_out(like.new_zeros(like.shape[0], like.shape[1], frames, *like.shape[-2:]))


def svi_pro_concat(anchor: torch.Tensor, prev: torch.Tensor | None, length: int,
                   motion_latent_count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """KJNodes' concat latent image ``[1, 16, T', h, w]`` and mask ``[1, 1, T', h, w]``; anchor
    and motion frames longer than ``length`` are refused (the pack's padding of negative
    size fails)."""
    total = (int(length) - 1) // 4 + 1
    parts = motion_frames(anchor, prev, motion_latent_count)
    given = sum(p.shape[2] for p in parts)
    if given > total:
        raise NodeInputError("length", f"{given} anchor and motion latent frames do not fit in the {total} latent "
                             f"frames of length {length}", "raise length or lower motion_latent_count")
    concat = torch.cat([*parts, latent_mean_padding(anchor[:1], total - given)], dim=2)
    mask = anchor.new_ones(1, 1, total, *anchor.shape[-2:])
    mask[:, :, :1] = 0.0
    return concat, mask
