"""ComfyUI's sampler nodes with settings and its small sigma tools
(``comfy_extras/nodes_custom_sampler.py``), for SamplerCustom / SamplerCustomAdvanced.

Samplers (each a SAMPLER naming one of KSampler's samplers with its keyword settings, as
ComfyUI's ``ksampler(name, extra_options)``):

* SamplerEulerAncestral, SamplerEulerAncestralCFGPP, SamplerDPMPP_2S_Ancestral: ``eta`` and
  ``s_noise`` of ``euler_ancestral``, ``euler_ancestral_cfg_pp``, ``dpmpp_2s_ancestral``.
* SamplerDPMPP_SDE (``eta``, ``s_noise``, ``r``), SamplerDPMPP_2M_SDE (``solver_type``, ``eta``,
  ``s_noise``), SamplerDPMPP_3M_SDE (``eta``, ``s_noise``): ``noise_device`` ``gpu`` names the
  ``_gpu`` variant, ``cpu`` the plain one, as ComfyUI does.
* SamplerLMS: ``order`` of ``lms``.

Sigma tools: FlipSigmas (reversed; a first 0 becomes 0.0001), SetFirstSigma (the first value
replaced), ExtendIntermediateSigmas (``steps - 1`` sigmas spaced linearly, ``cosine``
(``sin(x·π/2)``) or ``sine`` (``1 - cos(x·π/2)``) between each pair whose first sigma lies in
``[end_at_sigma, start_at_sigma]``, a negative start meaning no upper bound).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.custom_sampling import SamplerChoice, _sigmas
from wfrun.packs.comfy_core_models.ksampler_nodes import _check_names

NOISE_DEVICES = ("gpu", "cpu")
SOLVER_TYPES = ("midpoint", "heun")
SPACINGS = {"linear": lambda x: x, "cosine": lambda x: torch.sin(x * math.pi / 2),
            "sine": lambda x: 1 - torch.cos(x * math.pi / 2)}


def _choice(name: str, **options: Any) -> tuple:
    _check_names(name, None, "sampler")
    return (SamplerChoice(name, tuple(sorted(options.items()))),)


def _device_variant(name: str, noise_device: Any) -> str:
    if noise_device not in NOISE_DEVICES:
        raise NodeInputError("noise_device", f"unknown noise device {noise_device!r}", "use gpu or cpu")
    return name if noise_device == "cpu" else f"{name}_gpu"


@executor("SamplerEulerAncestral")
def sampler_euler_ancestral(ctx: ExecContext, eta: Any, s_noise: Any, **_: Any) -> tuple:
    return _choice("euler_ancestral", eta=float(eta), s_noise=float(s_noise))


@executor("SamplerEulerAncestralCFGPP")
def sampler_euler_ancestral_cfg_pp(ctx: ExecContext, eta: Any, s_noise: Any, **_: Any) -> tuple:
    return _choice("euler_ancestral_cfg_pp", eta=float(eta), s_noise=float(s_noise))


@executor("SamplerDPMPP_2S_Ancestral")
def sampler_dpmpp_2s_ancestral(ctx: ExecContext, eta: Any, s_noise: Any, **_: Any) -> tuple:
    return _choice("dpmpp_2s_ancestral", eta=float(eta), s_noise=float(s_noise))


@executor("SamplerDPMPP_SDE")
def sampler_dpmpp_sde(ctx: ExecContext, eta: Any, s_noise: Any, r: Any, noise_device: Any, **_: Any) -> tuple:
    return _choice(_device_variant("dpmpp_sde", noise_device), eta=float(eta), s_noise=float(s_noise), r=float(r))


@executor("SamplerDPMPP_2M_SDE")
def sampler_dpmpp_2m_sde(ctx: ExecContext, solver_type: Any, eta: Any, s_noise: Any, noise_device: Any,
                         **_: Any) -> tuple:
    if solver_type not in SOLVER_TYPES:
        raise NodeInputError("solver_type", f"unknown solver type {solver_type!r}", "use midpoint or heun")
    return _choice(_device_variant("dpmpp_2m_sde", noise_device), eta=float(eta), s_noise=float(s_noise),
                   solver_type=solver_type)


@executor("SamplerDPMPP_3M_SDE")
def sampler_dpmpp_3m_sde(ctx: ExecContext, eta: Any, s_noise: Any, noise_device: Any, **_: Any) -> tuple:
    return _choice(_device_variant("dpmpp_3m_sde", noise_device), eta=float(eta), s_noise=float(s_noise))


@executor("SamplerLMS")
def sampler_lms(ctx: ExecContext, order: Any, **_: Any) -> tuple:
    if int(order) < 1:
        raise NodeInputError("order", f"order {order}", "use 1 or more")
    return _choice("lms", order=int(order))


@executor("FlipSigmas")
def flip_sigmas(ctx: ExecContext, sigmas: Any, **_: Any) -> tuple:
    sigmas = _sigmas(sigmas)
    if len(sigmas) == 0:
        return (sigmas,)
    flipped = sigmas.flip(0)
    if flipped[0] == 0:
        flipped[0] = 0.0001
    return (flipped,)


@executor("SetFirstSigma")
def set_first_sigma(ctx: ExecContext, sigmas: Any, sigma: Any, **_: Any) -> tuple:
    sigmas = _sigmas(sigmas).clone()
    if len(sigmas) == 0:
        raise NodeInputError("sigmas", "no sigmas to set the first of", "connect a scheduler with at least one step")
    sigmas[0] = float(sigma)
    return (sigmas,)


@executor("ExtendIntermediateSigmas")
def extend_intermediate_sigmas(ctx: ExecContext, sigmas: Any, steps: Any, start_at_sigma: Any, end_at_sigma: Any,
                               spacing: Any, **_: Any) -> tuple:
    sigmas = _sigmas(sigmas)
    if spacing not in SPACINGS:
        raise NodeInputError("spacing", f"unknown spacing {spacing!r}", "use linear, cosine or sine")
    steps = int(steps)
    if not 1 <= steps <= 100:
        raise NodeInputError("steps", f"{steps} steps", "use 1 to 100")
    start = float("inf") if float(start_at_sigma) < 0 else float(start_at_sigma)
    spaced = SPACINGS[spacing](torch.linspace(0, 1, steps + 1)[1:-1])
    out: list[float] = []
    for current, following in zip(sigmas[:-1], sigmas[1:]):
        out.append(float(current))
        if float(end_at_sigma) <= current <= start:
            out.extend((spaced * (following - current) + current).tolist())
    if len(sigmas) > 0:
        out.append(float(sigmas[-1]))
    return (torch.tensor(out, dtype=torch.float32),)
