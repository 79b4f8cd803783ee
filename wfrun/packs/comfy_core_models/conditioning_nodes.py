"""ComfyUI's core nodes that edit a CONDITIONING (``nodes.py``), as shared Wan workflows use them.

A CONDITIONING is a list of ``[tensor, dict]`` entries (:mod:`wfrun.nodes.conditioning`);
none of these nodes changes its inputs, each returns new lists and dict copies.

- **ConditioningZeroOut**: every entry's tensor as zeros, and its ``pooled_output`` and
  ``conditioning_lyrics`` where set; the other keys stay (an image-to-video node's
  ``concat_latent_image`` survives, as in ComfyUI).
- **ConditioningCombine**: the entries of both, first then second; the sampler runs each
  and averages their predictions (:class:`.model_input.WanPredictor`).
- **ConditioningSetTimestepRange**: ``start_percent``/``end_percent`` written into every
  entry; the sampler turns them into sigmas with the model's ``percent_to_sigma``.
- **ConditioningConcat**: the first entry's tensor of ``conditioning_from`` appended along
  the token axis to each entry of ``conditioning_to`` (its dicts kept); further entries of
  ``conditioning_from`` are ignored, with ComfyUI's warning.
- **ConditioningAverage**: each entry of ``conditioning_to`` times
  ``conditioning_to_strength`` plus the first ``conditioning_from`` tensor (cut or padded
  with zero tokens to the same length) times the rest; ``pooled_output`` mixed the same way
  when both have one, else taken from ``conditioning_from`` where only it has one.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from wfrun.nodes.conditioning import check, set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

log = logging.getLogger(__name__)


def _entries(conditioning: Any, input_name: str) -> list:
    check(conditioning, input_name)
    for tensor, _ in conditioning:
        if not isinstance(tensor, torch.Tensor):
            raise NodeInputError(input_name, f"expected a CONDITIONING, got an entry holding {type(tensor).__name__}",
                                 "connect a CLIPTextEncode")
    return conditioning


def _first_tensor(conditioning: Any, input_name: str) -> tuple[torch.Tensor, dict]:
    entries = _entries(conditioning, input_name)
    if not entries:
        raise NodeInputError(input_name, "an empty CONDITIONING", "connect a CLIPTextEncode")
    if len(entries) > 1:
        log.warning("%s holds %d conditionings: only the first one is applied (as in ComfyUI)", input_name,
                    len(entries))
    return entries[0][0], entries[0][1]


@executor("ConditioningZeroOut")
def conditioning_zero_out(ctx: ExecContext, conditioning: Any, **_: Any) -> tuple:
    out = []
    for tensor, options in _entries(conditioning, "conditioning"):
        options = dict(options)
        for key in ("pooled_output", "conditioning_lyrics"):
            if options.get(key) is not None:
                options[key] = torch.zeros_like(options[key])
        out.append([torch.zeros_like(tensor), options])
    return (out,)


@executor("ConditioningCombine")
def conditioning_combine(ctx: ExecContext, conditioning_1: Any, conditioning_2: Any, **_: Any) -> tuple:
    return (list(_entries(conditioning_1, "conditioning_1")) + list(_entries(conditioning_2, "conditioning_2")),)


@executor("ConditioningSetTimestepRange")
def conditioning_set_timestep_range(ctx: ExecContext, conditioning: Any, start: float, end: float,
                                    **_: Any) -> tuple:
    _entries(conditioning, "conditioning")
    return (set_values(conditioning, {"start_percent": float(start), "end_percent": float(end)},
                       input_name="conditioning"),)


@executor("ConditioningConcat")
def conditioning_concat(ctx: ExecContext, conditioning_to: Any, conditioning_from: Any, **_: Any) -> tuple:
    source, _ = _first_tensor(conditioning_from, "conditioning_from")
    out = []
    for tensor, options in _entries(conditioning_to, "conditioning_to"):
        if tensor.ndim != source.ndim or tensor.shape[0] != source.shape[0] or tensor.shape[2:] != source.shape[2:]:
            raise NodeInputError("conditioning_from", f"embeddings of shape {tuple(source.shape)} cannot be appended "
                                 f"to {tuple(tensor.shape)}", "encode both prompts with the same text encoder")
        out.append([torch.cat((tensor, source.to(tensor.device)), dim=1), dict(options)])
    return (out,)


@executor("ConditioningAverage")
def conditioning_average(ctx: ExecContext, conditioning_to: Any, conditioning_from: Any,
                         conditioning_to_strength: float, **_: Any) -> tuple:
    source, source_options = _first_tensor(conditioning_from, "conditioning_from")
    weight = float(conditioning_to_strength)
    pooled_from = source_options.get("pooled_output")
    out = []
    for tensor, options in _entries(conditioning_to, "conditioning_to"):
        if tensor.ndim != 3 or source.ndim != 3 or tensor.shape[2] != source.shape[2]:
            raise NodeInputError("conditioning_from", f"embeddings of shape {tuple(source.shape)} cannot be averaged "
                                 f"with {tuple(tensor.shape)}", "encode both prompts with the same text encoder")
        other = source[:, :tensor.shape[1]].to(tensor.device)
        if other.shape[1] < tensor.shape[1]:  # ComfyUI pads the shorter prompt with zero tokens
            other = torch.cat([other, other.new_zeros(other.shape[0], tensor.shape[1] - other.shape[1],
                                                      tensor.shape[2])], dim=1)
        mixed = tensor * weight + other * (1.0 - weight)
        options = dict(options)
        pooled_to = options.get("pooled_output", pooled_from)
        if pooled_from is not None and pooled_to is not None:
            options["pooled_output"] = pooled_to * weight + pooled_from * (1.0 - weight)
        elif pooled_from is not None:
            options["pooled_output"] = pooled_from
        out.append([mixed, options])
    return (out,)
