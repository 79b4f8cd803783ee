"""Nodes that edit a WANVIDIMAGE_EMBEDS value (the wrapper's ``nodes.py`` and
``HuMo/nodes.py``, 2025-08 on).

- ``WanVideoCombineEmbeds``: the pack merges the two dicts, the second's keys over the
  first's (``{**embeds_1, **embeds_2}``). wfrun's embeds are one dataclass whose fields every
  producer has, so a field counts as set by ``embeds_2`` when it differs from the field's
  default; those come from ``embeds_2``, the others from ``embeds_1``. The one difference:
  where the pack's second dict holds a key explicitly empty (``None``: e.g. WanVideoEmptyEmbeds'
  ``control_embeds`` with nothing connected), the pack clears the first's value and wfrun
  keeps it.
- ``WanVideoAddExtraLatent``: one more entry of latents to put into the video's latents at
  ``latent_index`` (negative: from the end), after those already there; the sampler puts
  each entry in place of the noise (``sampling.loop``).
- ``WanVideoAddPusaNoise``: Pusa's noise multipliers of the given frames and the steps that
  re-noise them (``sampling.pusa``), for the ``flowmatch_pusa`` scheduler.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import ImageEmbeds
from wfrun.sampling.conditioning import ExtraLatent


def _embeds(value: Any, name: str) -> ImageEmbeds:
    if not isinstance(value, ImageEmbeds):
        raise NodeInputError(name, f"expected WANVIDIMAGE_EMBEDS, got {type(value).__name__}")
    return value


@executor("WanVideoCombineEmbeds")
def wanvideo_combine_embeds(ctx: ExecContext, embeds_1: Any, embeds_2: Any, **_: Any) -> tuple:
    first, second = _embeds(embeds_1, "embeds_1"), _embeds(embeds_2, "embeds_2")
    changes = {}
    for f in dataclasses.fields(ImageEmbeds):
        value = getattr(second, f.name)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            changes[f.name] = value  # a field every producer sets
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if not _same(value, default):
            changes[f.name] = value
    return (dataclasses.replace(first, **changes),)


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, torch.Tensor) or isinstance(default, torch.Tensor):
        return value is default
    try:
        return bool(value == default)
    except Exception:  # noqa: BLE001 - values that cannot compare count as set
        return False


@executor("WanVideoAddExtraLatent")
def wanvideo_add_extra_latent(ctx: ExecContext, embeds: Any, extra_latents: Any, latent_index: int,
                              **_: Any) -> tuple:
    emb = _embeds(embeds, "embeds")
    if not isinstance(extra_latents, dict) or not isinstance(extra_latents.get("samples"), torch.Tensor):
        raise NodeInputError("extra_latents", "expected a LATENT (from WanVideoEncode)")
    samples = extra_latents["samples"]
    if samples.ndim != 5 or samples.shape[0] != 1:
        raise NodeInputError("extra_latents", f"expected video latents [1, C, T, H, W], got {tuple(samples.shape)}")
    entry = ExtraLatent(samples=samples, index=int(latent_index))
    before = emb.extra_latents
    if before is None:
        entries: tuple = (entry,)
    elif isinstance(before, tuple):
        entries = before + (entry,)
    else:  # WanVideoEmptyEmbeds' extra latents: the leading frames
        entries = (ExtraLatent(samples=before["samples"], index=0), entry)
    return (dataclasses.replace(emb, extra_latents=entries),)


@executor("WanVideoAddPusaNoise")
def wanvideo_add_pusa_noise(ctx: ExecContext, embeds: Any, noise_multipliers: Any, noisy_steps: int,
                            **_: Any) -> tuple:
    """Pusa's noise multipliers and noisy steps on the embeds (``sampling.pusa``). The
    multipliers must be a list: one per latent frame, or one per given frame (the pack's
    sampler takes the list's length, so a single number fails there)."""
    emb = _embeds(embeds, "embeds")
    if isinstance(noise_multipliers, torch.Tensor):
        noise_multipliers = noise_multipliers.flatten().tolist()
    if not isinstance(noise_multipliers, (list, tuple)):
        raise NodeInputError("noise_multipliers", f"one number ({noise_multipliers}); the sampler needs a list",
                             "connect a float list: one multiplier per latent frame, or per given frame")
    try:
        values = tuple(float(v) for v in noise_multipliers)
    except (TypeError, ValueError):
        raise NodeInputError("noise_multipliers", "expected numbers") from None
    if int(noisy_steps) < -1:
        raise NodeInputError("noisy_steps", f"{noisy_steps}", "use -1 (every step) or a step count")
    return (dataclasses.replace(emb, pusa_noise_multipliers=values, pusa_noisy_steps=int(noisy_steps)),)
