"""RES4LYF's sigma nodes that shared Wan workflows use (``sigmas.py``, as of 0dc91c00, 2026-01):
``Linear Quadratic Advanced``, ``Sigmas Split Value``, ``Sigmas Resample`` and ``Sigmas Rescale``.

They only reshape a SIGMAS tensor (1-D, float32 from a scheduler), so they are done here
in the pack's own arithmetic, quirks included (each is named in its executor's docstring).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler.schedulers import linear_quadratic

#: Modes of ``Sigmas Resample`` run here ("model" fits a learned curve and is not ported).
RESAMPLE_MODES = ("linear", "nearest", "polynomial", "exponential", "power")
#: The fixed threshold of Linear Quadratic Advanced before it became an input.
OLD_THRESHOLD_NOISE = 0.025


def _sigmas(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.dim() != 1:
        raise NodeInputError(name, f"expected SIGMAS (a 1-D tensor), got {type(value).__name__}",
                             "connect a scheduler's sigmas")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise NodeInputError(name, f"expected a number, got {value!r}")
    return float(value)


def _whole(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise NodeInputError(name, f"expected a whole number of at least {low}, got {value!r}")
    return value


def linear_quadratic_sigmas(ms: ks.FlowSampling, steps: int, denoise: float, inflection_percent: float,
                            threshold_noise: float) -> torch.Tensor:
    """The pack's ``get_sigmas(model, "linear_quadratic", ...)``: ComfyUI's linear-quadratic
    schedule over ``int(steps / denoise)`` steps (when ``denoise < 1``) with
    ``int(total * inflection_percent)`` linear steps, then its last ``steps + 1`` sigmas."""
    total = steps if denoise >= 1.0 else int(steps / denoise)
    linear_steps = int(total * inflection_percent)
    if total > 1 and linear_steps == 0:
        raise NodeInputError("inflection_percent", f"inflection_percent {inflection_percent} leaves no linear step "
                             f"of {total} (the pack divides by that count and fails)", "raise inflection_percent")
    if total > 1 and linear_steps == total:
        raise NodeInputError("inflection_percent", f"inflection_percent {inflection_percent} leaves no quadratic "
                             f"step of {total} (the pack divides by that count and fails)", "lower inflection_percent")
    sigmas = linear_quadratic(ms, total, threshold_noise=threshold_noise, linear_steps=linear_steps)
    return sigmas[-(steps + 1):]


@executor("Linear Quadratic Advanced")
def linear_quadratic_advanced(ctx: ExecContext, model: Any, steps: Any, denoise: Any, inflection_percent: Any,
                              threshold_noise: Any, **_: Any) -> tuple:
    """The pack returns a tuple inside its tuple for ``denoise <= 0`` (a bug that breaks the
    next node); here that is refused, naming ``denoise``. Files saved before the node had
    ``threshold_noise`` (05332150, 2025-07-03) get the spec's default, 0.025, the value the
    pack then hard-coded (:data:`OLD_THRESHOLD_NOISE`, which a test holds equal to it)."""
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL, got {type(model).__name__}", "connect the model")
    steps = _whole("steps", steps, 0)
    denoise = _number("denoise", denoise)
    if denoise <= 0:
        raise NodeInputError("denoise", f"denoise {denoise} gives no schedule (the pack returns a broken value)",
                             "use a denoise above 0")
    if steps == 0 or (denoise < 1.0 and int(steps / denoise) == 0):
        raise NodeInputError("steps", f"{steps} steps at denoise {denoise} give an empty schedule",
                             "use at least 1 step")
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    return (linear_quadratic_sigmas(ms, steps, denoise, _number("inflection_percent", inflection_percent),
                                    _number("threshold_noise", threshold_noise)),)


def split_at_value(sigmas: torch.Tensor, split_value: float, bias_split_up: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``Sigmas Split Value``, as the pack splits (its edge cases kept: see the executor)."""
    if len(sigmas) == 0:
        return sigmas, sigmas
    empty = sigmas[:0]
    # compared as tensors, as the pack does (the value meets each sigma in its dtype)
    if bias_split_up:
        hits = torch.nonzero(sigmas <= split_value).flatten().tolist()
        if not hits:
            return sigmas, empty
        return sigmas[:hits[0] + 1], sigmas[hits[0]:]
    hits = torch.nonzero(sigmas < split_value).flatten().tolist()
    if not hits:
        return empty, sigmas
    # the first sigma below the split at index 0 makes the pack slice from -1: the last sigma only
    return sigmas[:hits[0]], sigmas[hits[0] - 1:]


@executor("Sigmas Split Value")
def sigmas_split_value(ctx: ExecContext, sigmas: Any, split_value: Any, bias_split_up: Any, **_: Any) -> tuple:
    """High and low parts of a schedule at a sigma value. Kept from the pack: without
    ``bias_split_up``, a schedule with no sigma below the value comes back whole as
    ``low_sigmas`` (and ``high_sigmas`` empty), and one whose first sigma is already below
    it gives only its last sigma as ``low_sigmas``."""
    if not isinstance(bias_split_up, bool):
        raise NodeInputError("bias_split_up", f"expected true or false, got {bias_split_up!r}")
    return split_at_value(_sigmas("sigmas", sigmas), _number("split_value", split_value), bias_split_up)


def resample(sigmas: torch.Tensor, length: int, mode: str, order: int) -> torch.Tensor:
    """``Sigmas Resample``'s interpolation of ``sigmas`` to ``length`` points (no rescale)."""
    if mode == "linear":  # torch's linear resize: half-pixel centres (align_corners False)
        return F.interpolate(sigmas[None, None], length, mode="linear")[0, 0]
    if mode == "nearest":  # the pack's own: searchsorted of the target grid in the source grid
        source = torch.linspace(0, 1, steps=len(sigmas))
        index = torch.searchsorted(source, torch.linspace(0, 1, steps=length)).clamp(0, len(sigmas) - 1)
        return sigmas[index]
    if mode == "exponential":  # linear in log sigma, end points kept (align_corners True)
        logs = F.interpolate(torch.log(sigmas)[None, None], size=length, mode="linear", align_corners=True)
        return torch.exp(logs.squeeze())
    values = sigmas.cpu().numpy()
    if mode == "polynomial":
        coefficients = np.polyfit(np.linspace(0, 1, len(values)), values, deg=order)
        fitted = np.polyval(coefficients, np.linspace(0, 1, length))
    else:  # power: a least-squares line in log-log over steps 1..n
        steps = np.linspace(1, len(values), len(values))
        slope, intercept = np.polyfit(np.log(steps), np.log(values), deg=1)
        fitted = np.exp(intercept) * np.linspace(1, len(values), length) ** slope
    return torch.tensor(fitted, dtype=sigmas.dtype)


def rescale(sigmas: torch.Tensor, start: float, end: float) -> torch.Tensor:
    """The pack's min-max rescale: the largest sigma goes to ``start``, the smallest to ``end``."""
    return (sigmas - sigmas.min()) * (start - end) / (sigmas.max() - sigmas.min()) + end


@executor("Sigmas Resample")
def sigmas_resample(ctx: ExecContext, sigmas_in: Any, output_length: Any, mode: Any, order: Any,
                    rescale_after: Any, **_: Any) -> tuple:
    """With ``rescale_after`` the result is min-max rescaled onto the input's first and last
    sigma, as the pack does (so a rising input comes back falling). "model" mode (a curve
    fitted by a small network) is not ported and is refused."""
    sigmas = _sigmas("sigmas_in", sigmas_in)
    length = _whole("output_length", output_length, 1)
    if mode not in RESAMPLE_MODES:
        raise NodeInputError("mode", f"mode {mode!r} is not supported in wfrun", f"use one of {', '.join(RESAMPLE_MODES)}")
    if len(sigmas) < 2:
        raise NodeInputError("sigmas_in", f"{len(sigmas)} sigma(s) cannot be resampled", "connect a longer schedule")
    if mode in ("exponential", "power") and bool((sigmas <= 0).any()):
        raise NodeInputError("sigmas_in", f"{mode} resampling takes the log of each sigma; this schedule has a "
                             "sigma of 0 or below (the pack gives NaN/inf)", "use linear or cut the final 0")
    if mode == "polynomial":
        _whole("order", order, 1)
    if not isinstance(rescale_after, bool):
        raise NodeInputError("rescale_after", f"expected true or false, got {rescale_after!r}")
    start, end = sigmas[0].clone(), sigmas[-1].clone()
    out = resample(sigmas.clone(), length, mode, int(order))
    if rescale_after:
        out = rescale(out, start, end)
    return (out,)


@executor("Sigmas Rescale")
def sigmas_rescale(ctx: ExecContext, start: Any, end: Any, sigmas: Any, **_: Any) -> tuple:
    """Min-max rescale onto ``[end, start]`` (reversing a schedule when ``start < end``). A
    constant schedule divides 0 by 0 in the pack (NaN); here it is refused."""
    sigmas = _sigmas("sigmas", sigmas)
    if len(sigmas) == 0 or bool(sigmas.max() == sigmas.min()):
        raise NodeInputError("sigmas", "a schedule with one distinct value cannot be rescaled (the pack gives NaN)",
                             "connect a schedule with more than one sigma")
    return (rescale(sigmas, _number("start", start), _number("end", end)),)
