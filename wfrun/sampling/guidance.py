"""Guidance: how a sampler turns the model's conditional and unconditional predictions into
the one it steps with. Each variant is a small object with the same interface, so any loop
(WanVideoSampler's in :mod:`.loop`, the KSampler family) can use it:

- ``guidance.zero_init(step) -> bool``: the prediction at ``step`` is all zeros, no model
  call (CFG-Zero*'s zero-init);
- ``guidance.needs_uncond(scale, step) -> bool``: whether to run the unconditional pass;
- ``guidance.cond_only(cond, step) -> Tensor``: the prediction when it is not run;
- ``guidance.combine(cond, uncond, scale, step) -> Tensor``: the prediction when it is;
- ``guidance.batched``: run cond and uncond as one batch of 2 (same combine).

Phantom's three-pass guidance (:class:`PhantomCFG`) adds a third prediction and has its own
``needs_reference`` / ``combine`` pair; FantasyTalking's audio CFG (:func:`audio_guidance`)
adds a third one too, the cond prediction without audio. :func:`wrapper_guidance` builds what
WanVideoSampler's options ask for. Formulas follow ComfyUI-WanVideoWrapper's sampler
(nodes.py, 2025-07, commit 069ebf7); they are written so that the arithmetic is the pack's,
operation for operation (the frames of a run do not change by a bit).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch


def fourier_filter(x: torch.Tensor, scale_low: float, scale_high: float, freq_cutoff: int) -> torch.Tensor:
    """FreSca: scale the centred 2-D spectrum by ``scale_low`` inside ``±freq_cutoff`` and
    ``scale_high`` outside (slicing exactly as the pack, so small latents behave alike)."""
    dtype = x.dtype
    freq = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    h, w = freq.shape[-2:]
    mask = torch.full(freq.shape, float(scale_high), device=x.device)
    cr, cc = h // 2, w // 2
    mask[..., cr - freq_cutoff:cr + freq_cutoff, cc - freq_cutoff:cc + freq_cutoff] = scale_low
    out = torch.fft.ifftn(torch.fft.ifftshift(freq * mask, dim=(-2, -1)), dim=(-2, -1)).real
    return out.to(dtype)


class CFG:
    """Classifier-free guidance: ``uncond + scale * (cond - uncond)``.

    The unconditional pass is skipped when ``scale`` is 1.0 (``math.isclose``), where the
    formula gives ``cond`` anyway."""

    batched = False

    def zero_init(self, step: int) -> bool:
        return False

    def needs_uncond(self, scale: float, step: int) -> bool:
        return not math.isclose(scale, 1.0)

    def cond_only(self, cond: torch.Tensor, step: int) -> torch.Tensor:
        return cond

    def alpha(self, cond: torch.Tensor, uncond: torch.Tensor) -> Any:
        """The factor applied to ``uncond`` (1 here; CFG-Zero*'s projection in the subclass)."""
        return 1.0

    def combine(self, cond: torch.Tensor, uncond: torch.Tensor, scale: float, step: int) -> torch.Tensor:
        a = self.alpha(cond, uncond)  # x * 1.0 is exact: the same bits as uncond + scale * (cond - uncond)
        return uncond * a + scale * (cond - uncond * a)


class CFGZeroStar(CFG):
    """CFG-Zero* (Fan et al. 2025): ``uncond * a + scale * (cond - uncond * a)`` with the
    projection ``a = <cond, uncond> / (|uncond|² + 1e-8)`` over the whole latent.

    ``zero_init_steps``: with the pack's ``use_zero_init``, the predictions of steps
    ``0..zero_init_steps`` (inclusive: ``zero_star_steps + 1`` of them) are zero."""

    def __init__(self, zero_init_steps: int | None = None):
        self.zero_init_steps = zero_init_steps

    def zero_init(self, step: int) -> bool:
        return self.zero_init_steps is not None and step <= self.zero_init_steps

    def alpha(self, cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
        cf, uf = cond.reshape(1, -1), uncond.reshape(1, -1)
        return ((cf * uf).sum(dim=1, keepdim=True) / ((uf ** 2).sum(dim=1, keepdim=True) + 1e-8)).view(1, 1, 1, 1)


class FreSca(CFG):
    """FreSca (frequency-scaled guidance): ``uncond * a + scale * F(cond - uncond) * a``
    where ``F`` is :func:`fourier_filter` and ``a`` the ``base`` guidance's factor (1 for
    plain CFG, the CFG-Zero* projection with it). Without the unconditional pass the
    prediction is ``F(cond)``."""

    def __init__(self, scale_low: float, scale_high: float, freq_cutoff: int, base: CFG | None = None):
        self.scale_low, self.scale_high, self.freq_cutoff = scale_low, scale_high, int(freq_cutoff)
        self.base = base if base is not None else CFG()

    def filter(self, x: torch.Tensor) -> torch.Tensor:
        return fourier_filter(x, self.scale_low, self.scale_high, self.freq_cutoff)

    def zero_init(self, step: int) -> bool:
        return self.base.zero_init(step)

    def needs_uncond(self, scale: float, step: int) -> bool:
        return self.base.needs_uncond(scale, step)

    def cond_only(self, cond: torch.Tensor, step: int) -> torch.Tensor:
        return self.filter(cond)

    def alpha(self, cond: torch.Tensor, uncond: torch.Tensor) -> Any:
        return self.base.alpha(cond, uncond)

    def combine(self, cond: torch.Tensor, uncond: torch.Tensor, scale: float, step: int) -> torch.Tensor:
        a = self.alpha(cond, uncond)
        return uncond * a + scale * self.filter(cond - uncond) * a


class BatchedCFG(CFG):
    """``inner``'s guidance with cond and uncond run as one batch of 2 (the pack's
    ``batched_cfg``). As in the pack, both passes run at every step, scale 1.0 included
    (then ``combine`` gives ``cond`` up to rounding)."""

    batched = True

    def __init__(self, inner: CFG):
        self.inner = inner

    def zero_init(self, step: int) -> bool:
        return self.inner.zero_init(step)

    def needs_uncond(self, scale: float, step: int) -> bool:
        return True

    def cond_only(self, cond: torch.Tensor, step: int) -> torch.Tensor:
        return self.inner.cond_only(cond, step)

    def alpha(self, cond: torch.Tensor, uncond: torch.Tensor) -> Any:
        return self.inner.alpha(cond, uncond)

    def combine(self, cond: torch.Tensor, uncond: torch.Tensor, scale: float, step: int) -> torch.Tensor:
        return self.inner.combine(cond, uncond, scale, step)


class PhantomCFG:
    """Phantom's guidance toward reference subjects (the pack's ``phantom_cfg``): a third
    prediction ``ref`` (latents *with* the reference frames, negative prompt) between the
    unconditional one (no references, negative prompt) and the conditional one (references,
    positive prompt): ``uncond + p * (ref - uncond) + scale * (cond - ref)``.

    ``scales`` is one value or one per step (the last repeats); at 1.0 there is no third
    pass and the ordinary guidance combines cond and uncond."""

    def __init__(self, scales: float | Sequence[float]):
        self.scales = tuple(float(s) for s in scales) if isinstance(scales, (tuple, list)) else float(scales)

    def scale_at(self, step: int) -> float:
        s = self.scales
        return s[min(step, len(s) - 1)] if isinstance(s, tuple) else s

    def needs_reference(self, step: int) -> bool:
        return not math.isclose(self.scale_at(step), 1.0)

    def combine(self, cond: torch.Tensor, uncond: torch.Tensor, reference: torch.Tensor, scale: float,
                step: int) -> torch.Tensor:
        return uncond + self.scale_at(step) * (reference - uncond) + scale * (cond - reference)


def wrapper_guidance(experimental: Any = None, batched: bool = False) -> CFG:
    """The guidance WanVideoSampler's options ask for: ExperimentalArgs' ``cfg_zero_star``
    (with ``use_zero_init`` / ``zero_star_steps``) and ``use_fresca``, then ``batched_cfg``."""
    guidance: CFG = CFG()
    if experimental is not None:
        if experimental.cfg_zero_star:
            zero_init = int(experimental.zero_star_steps) if experimental.use_zero_init else None
            guidance = CFGZeroStar(zero_init)
        if experimental.use_fresca:
            guidance = FreSca(experimental.fresca_scale_low, experimental.fresca_scale_high,
                              experimental.fresca_freq_cutoff, guidance)
    return BatchedCFG(guidance) if batched else guidance


def audio_guidance(cond: torch.Tensor, uncond: torch.Tensor, no_audio: torch.Tensor, cfg_scale: float,
                   audio_cfg: float) -> torch.Tensor:
    """FantasyTalking's audio CFG: text guidance from uncond to the cond without audio, audio
    guidance from there to the cond with it."""
    return uncond + cfg_scale * (no_audio - uncond) + audio_cfg * (cond - no_audio)
