"""SAMPLER values that wrap another SAMPLER and change what the sampler's model call sees,
and the GUIDER value of the custom-sampling nodes.

ComfyUI lets a node wrap a sampler's function (``KSAMPLER(fn, extra_options)``) so that the
model it is given is called differently (Detail Daemon lowers the sigma the model is told).
Here such a node returns a :class:`SamplerWrapper`; the custom-sampling nodes unwrap the
chain down to the named sampler and wrap the denoiser, innermost wrapper first, before
sampling. A wrapper may also give the run its own starting noise and sampler settings
(:meth:`SamplerWrapper.start_noise`, :meth:`SamplerWrapper.sampler_options`; the outermost
that gives one wins). Packs subclass it; this module only fixes the contract, so no pack
imports another.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SamplerWrapper(abc.ABC):
    """A SAMPLER around ``inner`` (another SAMPLER value)."""

    inner: Any

    @abc.abstractmethod
    def wrap(self, denoiser: Denoiser, sigmas: torch.Tensor, cfg: float) -> Denoiser:
        """The denoiser the wrapped sampler runs with, for this run's ``sigmas`` and CFG."""

    def start_noise(self, latent: torch.Tensor, seed: int) -> torch.Tensor | None:
        """The starting noise for ``latent`` (CPU, its shape) in place of KSampler's seeded
        draw, for a node that draws its own (RES4LYF's ClownsharKSampler); None: KSampler's."""
        return None

    def sampler_options(self) -> Any:
        """Settings for the named sampler besides its name (:class:`.res4lyf.ResOptions`);
        None: those the name implies."""
        return None


def run_settings(wrappers: Sequence[SamplerWrapper]) -> tuple[Any, Any]:
    """``(start_noise, sampler_options)`` for a run: the outermost wrapper's that gives one
    (``start_noise`` as a ``(latent, seed) -> noise`` function), else None."""
    noise_from = next((w for w in wrappers if type(w).start_noise is not SamplerWrapper.start_noise), None)
    options = next((o for o in (w.sampler_options() for w in wrappers) if o is not None), None)
    return (noise_from.start_noise if noise_from is not None else None), options


def unwrap(sampler: Any) -> tuple[Any, list[SamplerWrapper]]:
    """The innermost SAMPLER and the wrappers around it, outermost first (at most 16 deep)."""
    wrappers: list[SamplerWrapper] = []
    while isinstance(sampler, SamplerWrapper) and len(wrappers) < 16:
        wrappers.append(sampler)
        sampler = sampler.inner
    return sampler, wrappers


@dataclass(frozen=True)
class GuiderChoice:
    """GUIDER: the model, prompts and CFG a custom sampler guides with (ComfyUI's
    ``CFGGuider``; ``BasicGuider``: one prompt, ``negative`` None, CFG 1). ``cfg_window``
    (KJNodes' ScheduledCFGGuidance): CFG only on the steps whose index / (sigmas - 1) lies in
    ``[start, end]``, CFG 1 (no negative pass) elsewhere; ``cfg`` may then be a list, one
    value per step. ``nag`` (ComfyUI-NAG's NAGCFGGuider / NAGGuider): the Normalized
    Attention Guidance the sampler applies to the positive passes, or None."""

    model: Any
    positive: Any
    negative: Any
    cfg: float | Sequence[float]
    cfg_window: tuple[float, float] | None = None
    nag: Any = None

    def scheduled(self, denoiser: Any, sigmas: torch.Tensor) -> Denoiser:
        """``denoiser`` (a CFG denoiser with a ``cfg`` attribute) set to this step's CFG at
        every call, the step found from the run's sigmas as KJNodes finds it."""
        run = sigmas.detach().float().cpu()
        start, end = self.cfg_window if self.cfg_window is not None else (0.0, 1.0)
        values = list(self.cfg) if isinstance(self.cfg, (list, tuple)) else None

        def step_of(sigma: torch.Tensor) -> int:
            value = torch.as_tensor(float(sigma.reshape(-1)[0]))
            exact = torch.isclose(run, value).nonzero()
            if len(exact):
                return int(exact[0])
            for i in range(len(run) - 1):
                if (float(run[i]) - float(value)) * (float(run[i + 1]) - float(value)) <= 0:
                    return i
            return 0

        if values is not None and len(values) != len(run) - 1:
            raise ValueError(f"the cfg list has {len(values)} values for {len(run) - 1} steps")

        def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            step = step_of(sigma)
            inside = start <= step / max(len(run) - 1, 1) <= end
            denoiser.cfg = (values[step] if values is not None else float(self.cfg)) if inside else 1.0
            return denoiser(x, sigma)

        return guided
