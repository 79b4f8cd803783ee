"""``BatchPromptSchedule`` and ``BatchPromptScheduleLatentInput`` (``ScheduledNodes.py``,
``ScheduleTypes.py``, ``BatchFuncs.py``): one conditioning per frame, each the weighted mix
of its current and next keyframe prompts' encodings.

As the pack at its last commit (7d6ea60, 2024-10-28; registry version 1.0.2, whose
pyproject did not change after fa1133c), for files saved with the newest signature (since
2024-05-24: ``start_frame``, ``end_frame``); older signatures are refused (their nodes
scheduled differently). Steps, in the pack's order (``schedule`` for the text rules):

1. The positive schedule is interpolated with the node's ``start_frame``/``end_frame``; then,
   for BatchPromptSchedule, the negative one too; then the positive conditioning is built.
   Building it turns an ``end_frame`` of 0 into ``max_frames`` and a ``start_frame`` not
   below ``end_frame`` into 0 — in the settings the later steps share — so with ``end_frame``
   0 the prompts interpolated before it have no expression evaluated (nor stripped).
   BatchPromptScheduleLatentInput interpolates the negative schedule after the positive
   conditioning, so its negative prompts are evaluated over the corrected range.
2. Conditioning per frame ``start_frame .. end_frame - 1``: the current and next prompts
   encoded (the CLIP's own encoder, as CLIPTextEncode), each padded with zero rows split
   evenly before and after to the longest current prompt's length, mixed as
   ``current * w + next * (1 - w)``; the pooled output is the next prompt's. The frames are
   concatenated along the batch: ``[[tensor[frames, tokens, dim], {"pooled_output": ...}]]``.
3. BatchPromptScheduleLatentInput's ``max_frames`` is the sum of the first dimension of
   every tensor in the LATENT dict (the batch of ``samples``: frames of an image batch, 1
   for a video latent), and it hands the latent on.

The pack concatenates every frame's pooled output with ``torch.cat``; Wan's UMT5 (every
CLIP wfrun loads) has none, so in ComfyUI the node fails there with a TypeError. wfrun
refuses such a CLIP the same way, before encoding anything, naming ``clip``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.packs.fizznodes.schedule import MAX_FRAMES, ScheduleError, Series, interpolate, parse_schedule, \
    split_prompts

#: The first signature with start_frame and end_frame, whose behaviour wfrun follows.
NEWEST_SINCE = "2024-05-24"

Encode = Callable[[str], tuple[torch.Tensor, Any]]


def pad_tokens(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """``pad_with_zeros``: zero rows split evenly before and after along the token axis."""
    missing = length - tensor.shape[1]
    if missing <= 0:
        return tensor
    return F.pad(tensor, (0, 0, missing // 2, missing - missing // 2))


def mix(cond_to: torch.Tensor, cond_from: torch.Tensor, strength: float, max_size: int) -> torch.Tensor:
    """``addWeighted`` for one pair: ``to * strength + from * (1 - strength)`` after padding."""
    if max_size == 0:
        max_size = max(cond_to.shape[1], cond_from.shape[1])
    t0 = pad_tokens(cond_from, max_size)
    t1 = pad_tokens(cond_to, t0.shape[1])
    t0 = pad_tokens(t0, t1.shape[1])
    return torch.mul(t1, strength) + torch.mul(t0, 1.0 - strength)


class _Settings:
    """The pack's shared, mutable ``start_frame``/``end_frame``."""

    def __init__(self, start_frame: int, end_frame: int, max_frames: int):
        self.start, self.end, self.max_frames = start_frame, end_frame, max_frames


def batch_conditioning(series: Series, settings: _Settings, encode: Encode) -> list:
    """``BatchPoolAnimConditioning`` (with the end_frame fix of 2024-08-28)."""
    if settings.end == 0:
        settings.end = settings.max_frames
    if settings.start >= settings.end:
        settings.start = 0
    if settings.end > settings.max_frames:
        raise ScheduleError("end_frame", f"end_frame {settings.end} is past the {settings.max_frames} frames "
                            "scheduled; the pack fails on it", "set end_frame to max_frames or less (0: all)")
    cache: dict[str, tuple[torch.Tensor, Any]] = {}

    def enc(text: str) -> tuple[torch.Tensor, Any]:
        if text not in cache:
            cache[text] = encode(text)
        return cache[text]

    max_size = max(enc(series.current[i])[0].shape[1] for i in range(settings.end)) if settings.end else 0
    conds, pooled = [], []
    for i in range(settings.start, settings.end):
        cond_to, _ = enc(series.current[i])
        cond_from, pooled_from = enc(series.next[i])
        conds.append(mix(cond_to, cond_from, series.weight[i], max_size))
        pooled.append(pooled_from)
    return [[torch.cat(conds, dim=0), {"pooled_output": torch.cat(pooled, dim=0)}]]


def _encoder(ctx: ExecContext, clip: Any) -> Encode:
    """The CLIP's own encoding (CLIPTextEncode's executor), as ``(cond, pooled)``; a CLIP with
    no pooled output is refused, as the pack's ``torch.cat`` of pooled outputs fails."""
    encode_node = registered("CLIPTextEncode")
    if encode_node is None:
        raise NodeInputError("clip", "wfrun's CLIPTextEncode is not available")

    def encode(text: str) -> tuple[torch.Tensor, Any]:
        ((cond, options),) = encode_node(ctx, text=text, clip=clip)[0]
        return cond, options.get("pooled_output")

    return encode


def _check_pooled(encode: Encode) -> None:
    _, pooled = encode("")
    if pooled is None:
        raise NodeInputError("clip", "this CLIP gives no pooled output (Wan's UMT5 has none), and the pack joins every "
                             "frame's pooled output with torch.cat, which fails in ComfyUI with a TypeError too",
                             "use CLIPTextEncode per prompt (with ConditioningAverage or a timestep range to blend "
                             "them) instead of a FizzNodes batch schedule")


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise NodeInputError(name, f"expected a whole number from {low} to {high}, found {value!r}")
    return value


def _run(ctx: ExecContext, *, text: Any, clip: Any, max_frames: int, start_frame: Any, end_frame: Any,
         pre_text: Any, app_text: Any, pw: dict[str, Any], negative_after_positive: bool) -> tuple[list, list]:
    if ctx.saved_date is not None and ctx.saved_date < NEWEST_SINCE:
        raise NodeInputError("text", f"this node was saved with a FizzNodes revision of {ctx.saved_date}, before "
                             "start_frame/end_frame (2024-05-24); wfrun follows the pack's newest schedule only",
                             "open the workflow in ComfyUI with FizzNodes 1.0.2 and save it again")
    if not isinstance(text, str):
        raise NodeInputError("text", f"expected a STRING, found {type(text).__name__}")
    settings = _Settings(_int("start_frame", start_frame, 0, 9999), _int("end_frame", end_frame, 0, 9999), max_frames)
    try:
        pos, neg = split_prompts(parse_schedule(text), pre_text, app_text)
        encode = _encoder(ctx, clip)
        _check_pooled(encode)
        pos_series = interpolate(pos, max_frames, settings.start, settings.end, pw)
        if negative_after_positive:
            positive = batch_conditioning(pos_series, settings, encode)
            neg_series = interpolate(neg, max_frames, settings.start, settings.end, pw)
        else:
            neg_series = interpolate(neg, max_frames, settings.start, settings.end, pw)
            positive = batch_conditioning(pos_series, settings, encode)
        negative = batch_conditioning(neg_series, settings, encode)
    except ScheduleError as err:
        raise NodeInputError(err.input_name, str(err), err.hint) from None
    return positive, negative


def _weights(inputs: dict[str, Any]) -> dict[str, Any]:
    """pw_a..pw_d; unconnected ones are the function's default ``0`` (an int, as the pack
    substitutes it into expressions: ``0``, not ``0.0``)."""
    return {name: inputs.get(name, 0) if inputs.get(name) is not None else 0
            for name in ("pw_a", "pw_b", "pw_c", "pw_d")}


@executor("BatchPromptSchedule")
def batch_prompt_schedule(ctx: ExecContext, text: Any, clip: Any, max_frames: Any, print_output: Any,
                          start_frame: Any, end_frame: Any, pre_text: Any = None, app_text: Any = None,
                          **inputs: Any) -> tuple:
    frames = _int("max_frames", max_frames, 1, MAX_FRAMES)
    return _run(ctx, text=text, clip=clip, max_frames=frames, start_frame=start_frame, end_frame=end_frame,
                pre_text="" if pre_text is None else pre_text, app_text="" if app_text is None else app_text,
                pw=_weights(inputs), negative_after_positive=False)


@executor("BatchPromptScheduleLatentInput")
def batch_prompt_schedule_latent_input(ctx: ExecContext, text: Any, clip: Any, num_latents: Any,
                                       print_output: Any, start_frame: Any, end_frame: Any,
                                       pre_text: Any = None, app_text: Any = None, **inputs: Any) -> tuple:
    if not isinstance(num_latents, dict) or not isinstance(num_latents.get("samples"), torch.Tensor):
        raise NodeInputError("num_latents", "expected a LATENT")
    tensors = [v for v in num_latents.values() if isinstance(v, torch.Tensor)]
    if len(tensors) != len(num_latents):
        odd = [k for k, v in num_latents.items() if not isinstance(v, torch.Tensor)]
        raise NodeInputError("num_latents", f"this LATENT holds {', '.join(odd)}, which is not a tensor; the pack "
                             "counts frames with .size(0) of every entry and fails on it")
    frames = sum(int(t.shape[0]) for t in tensors)
    if not 1 <= frames <= MAX_FRAMES:
        raise NodeInputError("num_latents", f"the latent gives {frames} frames to schedule; expected 1..{MAX_FRAMES}")
    positive, negative = _run(ctx, text=text, clip=clip, max_frames=frames, start_frame=start_frame,
                              end_frame=end_frame, pre_text="" if pre_text is None else pre_text,
                              app_text="" if app_text is None else app_text, pw=_weights(inputs),
                              negative_after_positive=True)
    return positive, negative, num_latents
