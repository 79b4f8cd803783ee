"""WanVACETransitionColorCorrect as the pack computes it (2026-08-10).

A VACE transition drifts in colour between its two source contexts. The node scales each
output frame's RGB by a per-frame gain so that the frame's mean colour moves towards a
target: the source context's means on the context frames (the first and last
``context`` frames, ``context`` capped at half of either clip), and in between the average
of the output's own means smoothed over time (a Gaussian of sigma ``smooth_window`` frames,
radius ceil(3 sigma), edges repeated) and a straight line from the mean of the last (up to)
4 frames of the first context to the mean of the first (up to) 4 of the second. The gain
splits into a luma part (Rec. 709 weights) and a chroma part, each weighted by its
strength, then by ``correction_strength``, and is clamped to ``[min_gain, max_gain]``;
the corrected pixels are clamped to 0..1. Off, at strength 0 or with too few frames, the
output is the input.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
ANCHOR_FRAMES = 4


def smooth_over_time(values: torch.Tensor, sigma: float) -> torch.Tensor:
    """[frames, 3] smoothed per channel by a normalised Gaussian, edges replicated."""
    if sigma <= 0 or values.shape[0] < 3:
        return values.clone()
    radius = max(1, int(math.ceil(sigma * 3.0)))
    positions = torch.arange(-radius, radius + 1, dtype=values.dtype)
    kernel = torch.exp(-0.5 * (positions / sigma) ** 2)
    kernel = kernel / kernel.sum()
    series = F.pad(values.T.unsqueeze(0), (radius, radius), mode="replicate")
    weight = kernel.view(1, 1, -1).repeat(values.shape[1], 1, 1)
    return F.conv1d(series, weight, groups=values.shape[1]).squeeze(0).T


def target_means(control: torch.Tensor, output: torch.Tensor, context: int, sigma: float) -> torch.Tensor:
    frames = output.shape[0]
    target = smooth_over_time(output, sigma)
    target[:context] = control[:context]
    target[frames - context:] = control[-context:]
    anchors = min(ANCHOR_FRAMES, context)
    before = control[context - anchors:context].mean(dim=0)
    after = control[-context:][:anchors].mean(dim=0)
    generated = frames - 2 * context
    if generated > 0:
        progress = torch.linspace(0.0, 1.0, generated, dtype=output.dtype).unsqueeze(1)
        line = before * (1.0 - progress) + after * progress
        target[context:frames - context] = 0.5 * target[context:frames - context] + 0.5 * line
    return target


def gains(current: torch.Tensor, target: torch.Tensor, strength: float, luma_strength: float,
          chroma_strength: float, min_gain: float, max_gain: float) -> torch.Tensor:
    current, target = current.clamp_min(1e-4), target.clamp_min(1e-4)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=current.dtype)
    luma = (target * weights).sum(1, keepdim=True).clamp_min(1e-4) / \
        (current * weights).sum(1, keepdim=True).clamp_min(1e-4)
    chroma = (target / current) / luma.clamp_min(1e-6)
    combined = (1.0 + luma_strength * (luma - 1.0)) * (1.0 + chroma_strength * (chroma - 1.0))
    return (1.0 + strength * (combined - 1.0)).clamp(min_gain, max_gain)


def _rgb(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[-1] < 3:
        raise NodeInputError(name, "expected an RGB IMAGE batch [frames, height, width, 3]", f"connect {name}")
    return value


@executor("WanVACETransitionColorCorrect")
def wan_vace_transition_color_correct(ctx: ExecContext, control_video: Any, vace_output: Any, context_frames: int,
                                      enabled: bool, correction_strength: float, luma_strength: float,
                                      chroma_strength: float, smooth_window: float, min_gain: float,
                                      max_gain: float, debug: bool, **_: Any) -> tuple:
    if not enabled or correction_strength <= 0:
        return (vace_output,)
    output, control = _rgb("vace_output", vace_output), _rgb("control_video", control_video)
    frames = output.shape[0]
    context = min(int(context_frames), frames // 2, control.shape[0] // 2)
    if context < 1 or frames <= 2 * context:
        return (vace_output,)
    if min_gain > max_gain:
        raise NodeInputError("min_gain", f"min_gain ({min_gain}) is above max_gain ({max_gain})",
                             "make min_gain at most max_gain")
    source = output.float()
    control_means = control.to(source.device).float()[..., :3].mean(dim=(1, 2))
    output_means = source[..., :3].mean(dim=(1, 2))
    target = target_means(control_means, output_means, context, float(smooth_window))
    gain = gains(output_means, target, float(correction_strength), float(luma_strength), float(chroma_strength),
                 float(min_gain), float(max_gain))
    corrected = source.clone()
    corrected[..., :3] = (source[..., :3] * gain[:, None, None, :]).clamp(0.0, 1.0)
    return (corrected.to(output.dtype),)
