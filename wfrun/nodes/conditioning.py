"""CONDITIONING as ComfyUI passes it: a list of ``[tensor, dict]`` pairs; nodes add keys to
the dicts (``concat_latent_image``, ``concat_mask``, ``clip_vision_output``, ``vace_frames``…)
without touching their inputs (``node_helpers.conditioning_set_values``).

Here in ``nodes`` (not in the core pack) because conditioning nodes of other packs (KJNodes'
WanImageToVideoSVIPro) set the same keys the same way, and packs do not import each other."""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError


def set_values(conditioning: Any, values: dict[str, Any], *, append: bool = False, input_name: str = "positive") -> list:
    """A copy of ``conditioning`` with ``values`` set in every entry's dict; with ``append``
    list values are added to the entry's existing lists."""
    check(conditioning, input_name)
    out = []
    for tensor, options in conditioning:
        options = dict(options)
        for key, value in values.items():
            options[key] = list(options.get(key, [])) + list(value) if append and key in options else value
        out.append([tensor, options])
    return out


#: ComfyUI's gap between the ranges :func:`set_values_in_range` splits an entry into: the
#: sampler tests ranges with strict comparisons, so touching ranges would both run at a step.
RANGE_GAP = 1e-5


def set_values_in_range(conditioning: Any, values: dict[str, Any], start: float, end: float, *,
                        input_name: str = "positive") -> list:
    """ComfyUI's ``conditioning_set_values_with_timestep_range``: ``values`` apply only from
    ``start`` to ``end`` (fractions of the schedule). Each entry is split where its own range
    (0..1 unless set) overlaps that one: the part before (ending ``RANGE_GAP`` early) and the
    part after (starting ``RANGE_GAP`` late) stay as they were, the overlap gets the values;
    an entry that does not overlap is kept as it is. ``start > end`` changes nothing."""
    check(conditioning, input_name)
    if start > end:
        return list(conditioning)
    out: list = []
    for entry in conditioning:
        own_start = entry[1].get("start_percent", 0.0)
        own_end = entry[1].get("end_percent", 1.0)
        lo, hi = max(start, own_start), min(end, own_end)
        if lo >= hi:
            out.append(entry)
            continue
        if lo > own_start:
            out += set_values([entry], {"start_percent": own_start, "end_percent": lo - RANGE_GAP}, input_name=input_name)
        out += set_values([entry], {**values, "start_percent": lo, "end_percent": hi}, input_name=input_name)
        if hi < own_end:
            out += set_values([entry], {"start_percent": hi + RANGE_GAP, "end_percent": own_end}, input_name=input_name)
    return out


def check(conditioning: Any, input_name: str) -> None:
    if not isinstance(conditioning, list) or not all(
            isinstance(c, (list, tuple)) and len(c) == 2 and isinstance(c[1], dict) for c in conditioning):
        raise NodeInputError(input_name, f"expected a CONDITIONING, got {type(conditioning).__name__}",
                             "connect a CLIPTextEncode")


def fold_frame_mask(mask: torch.Tensor) -> torch.Tensor:
    """A Wan I2V ``concat_mask`` laid out per pixel frame, ``[1, 1, 4·T', h, w]`` (the first
    latent frame's 4 slots standing for its one pixel frame, as ComfyUI's Wan nodes fill
    them), folded to the ``[1, 4, T', h, w]`` the sampler reads: slot ``k`` of latent frame
    ``t`` is pixel-frame slot ``4·t + k``."""
    frames = mask.shape[2]
    if frames % 4:
        raise ValueError(f"a per-frame mask needs a multiple of 4 frames; got {frames}")
    return mask.view(mask.shape[0], frames // 4, 4, mask.shape[3], mask.shape[4]).transpose(1, 2)
