"""PainterI2VAdvanced (princepainter/ComfyUI-PainterI2Vadvanced, ``nodes.py``): PainterI2V for
Wan 2.2's two-model sampling, giving two pairs of conditionings.

- ``high_positive``/``high_negative`` (meant for the high-noise model): PainterI2V's
  conditioning, i.e. the start frame in a grey video, its later latent frames spread by
  ``motion_amplitude``, and then, with ``color_protect`` on, ``correct_strength`` above 0
  and ``motion_amplitude`` above 1, the pack's colour guard (:func:`guard_colors`);
- ``low_positive``/``low_negative`` (for the low-noise model): the same without any motion
  step or guard, i.e. PainterI2V at amplitude 1;
- all four carry the start frame's latent as a reference (zeros on the negatives) and
  ``clip_vision`` when given; ``latent`` is the empty 16-channel latent. Without a start
  image the four are the inputs (with ``clip_vision``).

The colour guard, on ``[B, 16, T, H, W]`` concat latents: per batch item and channel the mean
over frames, height and width before (``m0``) and after (``m1``) the motion step; a channel
whose relative drift ``|m1 - m0| / (|m0| + 1e-6)`` exceeds the drift limit has
``(m1 - m0) * correct_strength * scale`` taken off its positive values (every frame). Then, if
the whole latent's mean fell below ``dim_limit`` times the original's, values under 0.5 are
multiplied by ``min(original mean / (new mean + 1e-6), boost_cap)``; last a clamp to [-6, 6].
The constants changed on 2026-01-02 (f87bf8d): drift limit 0.12 -> 0.18, scale 0.08 -> 0.03,
dim limit 0.96 -> 0.92, boost cap 1.04 -> 1.05. The saved release (``properties.ver``)
picks them; a file without one, or with a commit not in the pack's history, gets the newest.

Where the pack fails, wfrun refuses by name: the guard's correction loops over
``batch_size`` batch items of a one-item latent, so ``batch_size`` above 1 with a channel to
correct raises in the pack (refused on ``batch_size``). The pack's Wan 2.1 VAE requirement is
PainterI2V's (:mod:`.core_node`, refused on ``vae``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.saved import saved_version
from wfrun.packs.painter_i2v.core_node import spread_motion, start_frame_conditioning, with_concat_and_reference
from wfrun.packs.painter_i2v.nodes import CLAMP

NODE = "PainterI2VAdvanced"


@dataclass(frozen=True)
class ColorGuard:
    """The guard's constants of one release (see the module docs)."""

    drift_limit: float
    scale: float
    dim_limit: float
    boost_cap: float


#: Releases before f87bf8d (2026-01-02) and from it on.
FIRST_GUARD = ColorGuard(drift_limit=0.12, scale=0.08, dim_limit=0.96, boost_cap=1.04)
GUARD = ColorGuard(drift_limit=0.18, scale=0.03, dim_limit=0.92, boost_cap=1.05)
#: The pack's commits (short ids) with the first constants: its history up to 841ea1f
#: (2025-12-31), side branches included; "1.0.0" is its pyproject version from 2025-12-30 on.
FIRST_GUARD_COMMITS = ("7d3d0a1", "0ab9b87", "2226b17", "da03abc", "7be3b6c", "c77bd11", "d29e6ba", "32c6abc",
                       "a9cc811", "acc4ff6", "b2dff57", "fcad61b", "505652f", "78e037a", "1c6ea1a", "8a6f10c",
                       "691071e", "599df06", "76da697", "841ea1f", "1.0.0")
EPS = 1e-6


def guard_for(ver: str | None) -> ColorGuard:
    """The constants of the release that saved the node (``properties.ver``)."""
    saved = (ver or "").strip().lower()
    if saved and any(saved == c or (len(saved) >= 7 and saved.startswith(c)) for c in FIRST_GUARD_COMMITS):
        return FIRST_GUARD
    return GUARD


def guard_colors(original: torch.Tensor, moved: torch.Tensor, strength: float, guard: ColorGuard,
                 batch_size: int) -> torch.Tensor:
    """The pack's colour guard on the moved concat latent (module docs), given the one before
    the motion step."""
    before = original.mean(dim=(2, 3, 4))
    drift = moved.mean(dim=(2, 3, 4)) - before
    flagged = drift.abs() / (before.abs() + EPS) > guard.drift_limit
    out = moved
    if bool(flagged.any()):
        if batch_size > moved.shape[0]:
            raise NodeInputError("batch_size", f"the pack's colour correction fails with batch_size {batch_size} "
                                 "(its latent has one item)", "set batch_size to 1, or turn color_protect off")
        correction = (drift * flagged.to(drift.dtype) * strength * guard.scale)[:, :, None, None, None]
        out = torch.where(out > 0, out - correction, out)
    start, now = original.mean(), out.mean()
    if bool(now < start * guard.dim_limit):
        boost = (start / (now + EPS)).clamp(max=guard.boost_cap)
        out = torch.where(out < 0.5, out * boost, out)
    return out.clamp(-CLAMP, CLAMP)


@executor(NODE)
def painter_i2v_advanced(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: Any, height: Any,
                         length: Any, batch_size: Any, motion_amplitude: Any, color_protect: Any,
                         correct_strength: Any, clip_vision: Any = None, start_image: torch.Tensor | None = None,
                         **_: Any) -> tuple:
    positive, negative, latent, concat, ref = start_frame_conditioning(
        ctx, NODE, positive, negative, vae, width, height, length, batch_size, clip_vision, start_image,
        clip_input="clip_vision")
    if concat is None:
        return (positive, negative, positive, negative, latent)
    amplitude, strength = float(motion_amplitude), float(correct_strength)
    moved = spread_motion(concat, amplitude)
    if amplitude > 1.0 and bool(color_protect) and strength > 0:
        moved = guard_colors(concat, moved, strength, guard_for(saved_version(ctx.workflow_json, ctx.node_id)),
                             int(batch_size))
    high = with_concat_and_reference(positive, negative, moved, ref)
    low = with_concat_and_reference(positive, negative, concat, ref)
    return (*high, *low, latent)
