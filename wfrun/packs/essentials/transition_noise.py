"""ComfyUI_essentials' TransitionMask+ (``mask.py``) and InjectLatentNoise+ (``sampling.py``).

- TransitionMask+: ``frames`` masks: 0 before ``start_frame``, 1 from ``end_frame`` (at
  most ``frames``) on, and between them a shape that grows with the progress
  ``timing(i, n - 1)`` of the n transition frames (linear ``i/t``, "in" its square,
  "out" ``1 - (1 - i/t)^2``, "in-out" the two halves): slides from the left / top, bars and
  a box from the centre, doors from both edges (``ceil``), a circle of radius
  ``ceil(diagonal * p / 2)`` around ``(W // 2, H // 2)``, or a flat fade. One transition
  frame divides by zero in the pack; refused.
- InjectLatentNoise+: ``samples + strength * n``, ``n`` a Gaussian draw of the samples'
  shape from a generator on their device seeded ``noise_seed`` (the pack seeds torch's
  global one: the same draw), scaled to the samples' std and shifted by their mean with
  ``normalize`` "true"; a mask (image latents) blends it back over the original.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.essentials.values import choice, mask as as_mask, number, whole


def _in_out(i: float, t: float) -> float:
    if i < t / 2:
        return pow(i / (t / 2), 2) / 2
    return 1 - pow(1 - (i - t / 2) / (t / 2), 2) / 2


TIMING: dict[str, Callable[[float, float], float]] = {
    "linear": lambda i, t: i / t,
    "in": lambda i, t: pow(i / t, 2),
    "out": lambda i, t: 1 - pow(1 - i / t, 2),
    "in-out": _in_out,
}
TRANSITIONS = ("horizontal slide", "vertical slide", "horizontal bar", "vertical bar", "center box",
               "horizontal door", "vertical door", "circle", "fade")


def _transition_frame(kind: str, width: int, height: int, progress: float) -> torch.Tensor:
    frame = torch.zeros((height, width), dtype=torch.float32)
    if kind == "horizontal slide":
        frame[:, :round(width * progress)] = 1.0
    elif kind == "vertical slide":
        frame[:round(height * progress), :] = 1.0
    elif kind == "center box":
        box_w, box_h = round(width * progress), round(height * progress)
        x1, y1 = (width - box_w) // 2, (height - box_h) // 2
        frame[y1:y1 + box_h, x1:x1 + box_w] = 1.0
    elif kind == "circle":
        radius = math.ceil(math.sqrt(width ** 2 + height ** 2) * progress / 2)
        y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                              indexing="ij")
        frame[((x - width // 2) ** 2 + (y - height // 2) ** 2) <= radius ** 2] = 1.0
    elif kind == "horizontal bar":
        bar = round(height * progress)
        y1 = (height - bar) // 2
        frame[y1:y1 + bar, :] = 1.0
    elif kind == "vertical bar":
        bar = round(width * progress)
        x1 = (width - bar) // 2
        frame[:, x1:x1 + bar] = 1.0
    elif kind == "horizontal door":
        bar = math.ceil(height * progress / 2)
        if bar > 0:
            frame[:bar, :] = 1.0
            frame[-bar:, :] = 1.0
    elif kind == "vertical door":
        bar = math.ceil(width * progress / 2)
        if bar > 0:
            frame[:, :bar] = 1.0
            frame[:, -bar:] = 1.0
    else:  # fade
        frame[:, :] = progress
    return frame


@executor("TransitionMask+")
def transition_mask(ctx: ExecContext, width: Any, height: Any, frames: Any, start_frame: Any, end_frame: Any,
                    transition_type: Any, timing_function: Any, **_: Any) -> tuple:
    width, height, frames = whole(width, "width"), whole(height, "height"), whole(frames, "frames")
    start, end = whole(start_frame, "start_frame"), min(frames, whole(end_frame, "end_frame"))
    kind = choice(transition_type, "transition_type", TRANSITIONS)
    timing = TIMING[choice(timing_function, "timing_function", tuple(TIMING))]
    length = end - start
    if length == 1:
        raise NodeInputError("end_frame", "a transition of one frame divides by zero in the pack",
                             "give the transition at least two frames")
    out = [torch.zeros((height, width))] * start
    out += [_transition_frame(kind, width, height, timing(i, length - 1)) for i in range(max(length, 0))]
    out += [torch.ones((height, width))] * (frames - end)
    if not out:
        raise NodeInputError("frames", "the transition gives no frame", "check frames, start_frame and end_frame")
    return (torch.stack(out, dim=0),)


@executor("InjectLatentNoise+")
def inject_latent_noise(ctx: ExecContext, latent: Any, noise_seed: Any, noise_strength: Any, normalize: Any,
                        mask: Any = None, **_: Any) -> tuple:
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise NodeInputError("latent", f"latent: expected a LATENT, found {type(latent).__name__}")
    generator = torch.Generator(device=samples.device).manual_seed(whole(noise_seed, "noise_seed"))
    noise = torch.randn(samples.shape, generator=generator, device=samples.device, dtype=samples.dtype)
    if normalize in ("true", True):
        noise = noise * samples.std() + samples.mean()
    noised = samples + noise * number(noise_strength, "noise_strength")
    if mask is not None:
        if samples.ndim != 4:
            raise NodeInputError("mask", "a mask on a video latent [B, C, T, H, W] is not supported (the pack "
                                 "resizes it to the frame and height axes)", "disconnect the mask")
        weights = as_mask(mask, "mask")
        weights = F.interpolate(weights.reshape(-1, 1, *weights.shape[-2:]).float(), size=noised.shape[2:4],
                                mode="bilinear").expand(-1, noised.shape[1], -1, -1).clamp(0.0, 1.0)
        if weights.shape[0] < noised.shape[0]:
            weights = weights.repeat((noised.shape[0] - 1) // weights.shape[0] + 1, 1, 1, 1)[:noised.shape[0]]
        weights = weights[:noised.shape[0]]
        noised = weights * noised + (1 - weights) * samples
    return ({**latent, "samples": noised},)
