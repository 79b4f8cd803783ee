"""ComfyUI's native EasyCache (``comfy_extras/nodes_easycache.py``) around a KSampler model.

EasyCache skips whole model calls: while the model's output is predicted to have changed
little since the last call that ran, the call returns its input plus the difference
``output - input`` cached from the last call that ran, per prompt. :class:`EasyCache` wraps
the ``predict(x, timestep, which)`` function the samplers call (the place of ComfyUI's
``DIFFUSION_MODEL`` wrapper), one fresh state per sampler run (its ``OUTER_SAMPLE`` clone).

Its rules, as ComfyUI's ``easycache_forward_wrapper`` has them:

- the window is in sigma: calls at a sigma at or below ``percent_to_sigma(end_percent)``
  run the model and touch nothing; calls at a sigma above ``percent_to_sigma(start_percent)``
  run the model and only record each prompt's cached difference;
- inside the window the first prompt of the first call (the positive one) leads: its input
  change ``mean|x - x_prev|`` (both subsampled by 8 in height and width, ``x_prev`` the
  input of its last call that ran) times the *transformation rate* (the output change over
  the input change measured on its last call that ran), over the mean absolute output of
  that call, is added to a running sum; while the sum stays below ``reuse_threshold`` the
  call is skipped, and the other prompts of the same step (the negative) are skipped too;
  otherwise the sum goes back to 0 and the model runs;
- no decision is made until both an output norm and a transformation rate exist, so the
  first two steps in the window always run.

Differences, written down: ComfyUI may batch the positive and negative prompts into one
model call (memory permitting) and then takes the output norm over both; wfrun always runs
them as two calls, which is ComfyUI's path when they are not batched. ComfyUI computes the
differences in the model's dtype (bf16/fp16); wfrun in float32, the dtype the samplers hold.
A SkipLayerGuidanceDiT pass bypasses the cache here (ComfyUI sends it through as another
call of the positive prompt, where it mostly reuses the positive output); a change of the
latent's shape within one run (which a Wan run never has) is not checked. A prompt of several
conditioning entries (ConditioningCombine) is one call here (its weighted mean), where ComfyUI
may batch the entries; a call where none of them applies is passed through untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .model_sampling import FlowSampling

log = logging.getLogger(__name__)

#: ComfyUI's EasyCache node always subsamples by this factor.
SUBSAMPLE = 8


@dataclass(frozen=True)
class EasyCacheSettings:
    """The EasyCache node's inputs, kept on the MODEL."""

    reuse_threshold: float = 0.2
    start_percent: float = 0.15
    end_percent: float = 0.95
    verbose: bool = False


@dataclass
class EasyCache:
    """``predict`` wrapped with EasyCache for one sampler run (see the module's rules)."""

    predict: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
    settings: EasyCacheSettings
    ms: FlowSampling
    start_sigma: float = 0.0
    end_sigma: float = 0.0
    leader: Any = None
    skip_step: bool = False
    rate: torch.Tensor | None = None
    cumulative: float = 0.0
    x_prev: torch.Tensor | None = None
    out_prev: torch.Tensor | None = None
    out_norm: torch.Tensor | None = None
    diffs: dict[Any, torch.Tensor] = field(default_factory=dict)
    skipped: int = 0
    calls: int = 0

    def __post_init__(self) -> None:
        self.start_sigma = self.ms.percent_to_sigma(self.settings.start_percent)
        self.end_sigma = self.ms.percent_to_sigma(self.settings.end_percent)

    @staticmethod
    def _sub(x: torch.Tensor) -> torch.Tensor:
        return x[..., ::SUBSAMPLE, ::SUBSAMPLE]

    def _reuse(self, x: torch.Tensor, which: Any) -> torch.Tensor:
        if which == self.leader:
            self.skipped += 1
        return x + self.diffs[which].to(x.device, x.dtype)

    def __call__(self, x: torch.Tensor, timestep: torch.Tensor, which: Any) -> torch.Tensor:
        if isinstance(which, tuple):  # a SkipLayerGuidanceDiT pass: not cached (see the module)
            return self.predict(x, timestep, which)
        if which == "cond":  # the first call of each model evaluation (ComfyUI's calc_cond_batch)
            self.skip_step = False
        sigma = float((timestep / self.ms.multiplier).reshape(-1)[0])
        if not sigma > self.end_sigma:
            return self.predict(x, timestep, which)
        self.calls += which == "cond"
        leads = which == self.leader
        input_change = None
        if sigma <= self.start_sigma:
            if self.skip_step and which in self.diffs:
                return self._reuse(x, which)
            if self.leader is None:
                self.leader, leads = which, True
            if leads:
                if self.x_prev is not None:
                    input_change = (self._sub(x) - self.x_prev).abs().mean()
                if self.out_norm is not None and self.rate is not None:
                    self.cumulative += float(self.rate * input_change / self.out_norm)
                    if self.cumulative < self.settings.reuse_threshold:
                        if self.settings.verbose:
                            log.info("EasyCache: skipping step; cumulative change %.4g < %g", self.cumulative,
                                     self.settings.reuse_threshold)
                        self.skip_step = True
                        return self._reuse(x, which)
                    self.cumulative = 0.0
        output = self.predict(x, timestep, which)
        if output is None:  # no conditioning entry applies at this sigma: nothing to measure or keep
            return None
        if leads and self.out_norm is not None:
            output_change = (self._sub(output) - self.out_prev).abs().mean()
            if input_change is not None:
                self.rate = output_change / input_change
        self.diffs[which] = output - x
        if leads:
            self.x_prev = self._sub(x).clone()
            self.out_prev = self._sub(output).clone()
            self.out_norm = output.abs().mean()
        return output

    def summary(self) -> str:
        """ComfyUI's closing line: steps skipped of the run's steps."""
        return f"EasyCache skipped {self.skipped}/{self.calls} model evaluations in its window"
