"""SAMPLER values that wrap another SAMPLER and change what the sampler's model call sees.

ComfyUI lets a node wrap a sampler's function (``KSAMPLER(fn, extra_options)``) so that the
model it is given is called differently (Detail Daemon lowers the sigma the model is told).
Here such a node returns a :class:`SamplerWrapper`; the custom-sampling nodes unwrap the
chain down to the named sampler and wrap the denoiser, innermost wrapper first, before
sampling. Packs subclass it; this module only fixes the contract, so no pack imports
another.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SamplerWrapper(abc.ABC):
    """A SAMPLER around ``inner`` (another SAMPLER value)."""

    inner: Any

    @abc.abstractmethod
    def wrap(self, denoiser: Denoiser, sigmas: torch.Tensor, cfg: float) -> Denoiser:
        """The denoiser the wrapped sampler runs with, for this run's ``sigmas`` and CFG."""


def unwrap(sampler: Any) -> tuple[Any, list[SamplerWrapper]]:
    """The innermost SAMPLER and the wrappers around it, outermost first (at most 16 deep)."""
    wrappers: list[SamplerWrapper] = []
    while isinstance(sampler, SamplerWrapper) and len(wrappers) < 16:
        wrappers.append(sampler)
        sampler = sampler.inner
    return sampler, wrappers
