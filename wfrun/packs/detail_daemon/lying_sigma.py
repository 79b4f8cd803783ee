"""LyingSigmaSampler and DetailDaemonGraphSigmasNode (Jonseed/ComfyUI-Detail-Daemon).

LyingSigmaSampler wraps a SAMPLER so that, while the step's sigma lies between the sigmas
at ``end_percent`` and ``start_percent`` of the model's schedule (each rounded to 4
decimals, as the pack rounds them; both ends included), the model is told
``sigma * (1 + dishonesty_factor)``: a negative factor makes it remove less noise than it
is given, as Detail Daemon does with a fixed factor. The sigmas come from the model's flow
sampling (its shift), read from the CFG denoiser the sampler calls (``ms``), as the pack
reads ``model_sampling`` through the wrapped model.

DetailDaemonGraphSigmasNode only draws Detail Daemon's schedule for the given sigmas in
ComfyUI's interface (an output node with no outputs); here it checks its input and
returns nothing, so a workflow that keeps it runs unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.ksampler.wrapped import Denoiser, SamplerWrapper


def sigma_window(ms: Any, start_percent: float, end_percent: float) -> tuple[float, float]:
    """(end sigma, start sigma): ``percent_to_sigma`` of each, rounded to 4 decimals."""
    return round(ms.percent_to_sigma(end_percent), 4), round(ms.percent_to_sigma(start_percent), 4)


@dataclass(frozen=True)
class LyingSigma(SamplerWrapper):
    """The SAMPLER LyingSigmaSampler returns."""

    inner: Any
    dishonesty_factor: float
    start_percent: float
    end_percent: float

    def wrap(self, denoiser: Denoiser, sigmas: torch.Tensor, cfg: float) -> Denoiser:
        ms = getattr(denoiser, "ms", None)
        if ms is None:
            raise NodeInputError("sampler", "LyingSigmaSampler cannot read the model's sigmas through the sampler "
                                 "it wraps", "put LyingSigmaSampler directly around KSamplerSelect or Detail Daemon")
        low, high = sigma_window(ms, self.start_percent, self.end_percent)
        factor = 1.0 + self.dishonesty_factor

        def lying(x: torch.Tensor, sigma: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            if low <= float(sigma.max()) <= high:
                sigma = sigma * factor
            return denoiser(x, sigma, *args, **kwargs)

        lying.ms = ms  # a wrapper outside this one reads the sampling through it, as through the pack's
        return lying


@executor("LyingSigmaSampler")
def lying_sigma_sampler(ctx: ExecContext, sampler: Any, dishonesty_factor: Any, start_percent: Any,
                        end_percent: Any, **_: Any) -> tuple:
    if sampler is None:
        raise NodeInputError("sampler", "no SAMPLER connected", "connect a KSamplerSelect")
    for name, value in (("dishonesty_factor", dishonesty_factor), ("start_percent", start_percent),
                        ("end_percent", end_percent)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NodeInputError(name, f"expected a number, found {value!r}")
    return (LyingSigma(sampler, float(dishonesty_factor), float(start_percent), float(end_percent)),)


@executor("DetailDaemonGraphSigmasNode")
def detail_daemon_graph_sigmas(ctx: ExecContext, sigmas: Any, **_: Any) -> tuple:
    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1:
        raise NodeInputError("sigmas", f"expected SIGMAS, found {type(sigmas).__name__}",
                             "connect a scheduler node (BasicScheduler) here")
    return ()
