"""KJNodes' value nodes (``nodes/nodes.py``, ``nodes/curve_nodes.py``): StringToFloatList,
SomethingToString, JoinStringMulti, CustomSigmas, FloatToSigmas, SigmasToFloat,
CondPassThrough, DummyLatentOut and InjectNoiseToLatent.

- SomethingToString: numbers, booleans and strings by ``str``, lists joined by ", ", with
  ``prefix``/``suffix`` when not empty; anything else is handed on unchanged, as the pack.
- JoinStringMulti: ``string_1`` then every other non-empty input up to ``inputcount``,
  joined by ``delimiter`` or, with ``return_list``, as a list.
- CustomSigmas: the values of ``sigmas_string`` (split on ", "), log-linearly
  re-interpolated to ``interpolate_to_steps + 1`` values when their count differs, the
  last set to 0.
- InjectNoiseToLatent: ``samples + strength * noise`` (or their mean with ``average``),
  divided by its standard deviation with ``normalize``, blended back through a mask
  (image latents), plus ``mix_randn_amount`` times a draw of a CPU generator seeded
  ``seed``; the result is a new LATENT of just ``samples``, on the CPU, as the pack.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.kjnodes.checked import latent as as_latent, mask as as_mask


def _floats(text: Any, name: str, separator: str = ",") -> list[float]:
    try:
        return [float(part.strip()) for part in str(text).split(separator)]
    except ValueError:
        raise NodeInputError(name, f"{name}: expected numbers separated by {separator!r}, found {text!r:.80}") from None


@executor("StringToFloatList")
def string_to_float_list(ctx: ExecContext, string: Any, **_: Any) -> tuple:
    return (_floats(string, "string"),)


@executor("SomethingToString")
def something_to_string(ctx: ExecContext, input: Any, prefix: Any, suffix: Any, **_: Any) -> tuple:
    if isinstance(input, (int, float, bool, str)):
        text = str(input)
    elif isinstance(input, list):
        text = ", ".join(str(item) for item in input)
    else:
        return (input,)
    return (f"{prefix or ''}{text}{suffix or ''}",)


@executor("JoinStringMulti")
def join_string_multi(ctx: ExecContext, inputcount: Any, delimiter: Any, return_list: Any, string_1: Any = "",
                      **kwargs: Any) -> tuple:
    text = string_1
    strings = [string_1]
    for c in range(2, int(inputcount) + 1):
        extra = kwargs.get(f"string_{c}", "")
        if not extra:
            continue
        if return_list:
            strings.append(extra)
        else:
            text = f"{text}{delimiter}{extra}"
    return (strings if return_list else text,)


def loglinear_interp(values: list[float], count: int) -> torch.Tensor:
    """The pack's log-linear re-interpolation of a decreasing schedule to ``count`` values."""
    ys = np.log(np.asarray(values, dtype=np.float32)[::-1])
    out = np.exp(np.interp(np.linspace(0, 1, count), np.linspace(0, 1, len(values)), ys))[::-1].copy()
    return torch.tensor(out)


@executor("CustomSigmas")
def custom_sigmas(ctx: ExecContext, sigmas_string: Any, interpolate_to_steps: Any, **_: Any) -> tuple:
    values = _floats(sigmas_string, "sigmas_string", ", ")
    sigmas = torch.tensor(values, dtype=torch.float32)
    if len(sigmas) != int(interpolate_to_steps) + 1:
        if any(v <= 0 for v in values):
            raise NodeInputError("sigmas_string", "re-interpolating a schedule takes logarithms: every sigma must "
                                 "be above 0", "drop the trailing 0 (the node sets the last sigma to 0 itself)")
        sigmas = loglinear_interp(values, int(interpolate_to_steps) + 1)
    sigmas = sigmas.float().clone()
    sigmas[-1] = 0
    return (sigmas,)


@executor("FloatToSigmas")
def float_to_sigmas(ctx: ExecContext, float_list: Any, **_: Any) -> tuple:
    values = float_list if isinstance(float_list, list) else [float_list]
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise NodeInputError("float_list", f"float_list: expected numbers, found {float_list!r:.80}")
    return (torch.tensor(values, dtype=torch.float32),)


@executor("SigmasToFloat")
def sigmas_to_float(ctx: ExecContext, sigmas: Any, **_: Any) -> tuple:
    if not isinstance(sigmas, torch.Tensor):
        raise NodeInputError("sigmas", f"sigmas: expected SIGMAS, found {type(sigmas).__name__}")
    return (sigmas.tolist(),)


@executor("CondPassThrough")
def cond_pass_through(ctx: ExecContext, positive: Any = None, negative: Any = None, **_: Any) -> tuple:
    return positive, negative


@executor("DummyLatentOut")
def dummy_latent_out(ctx: ExecContext, latent: Any, **_: Any) -> tuple:
    return (latent,)


@executor("InjectNoiseToLatent")
def inject_noise_to_latent(ctx: ExecContext, latents: Any, strength: Any, noise: Any, normalize: Any, average: Any,
                           mix_randn_amount: Any, seed: Any, mask: Any = None, **_: Any) -> tuple:
    samples = as_latent(latents, "latents").clone().cpu()
    extra = as_latent(noise, "noise").clone().cpu()
    if extra.shape != samples.shape:
        raise NodeInputError("noise", f"noise {list(extra.shape)} does not match latents {list(samples.shape)}",
                             "give noise of the latents' shape")
    noised = (samples + extra) / 2 if average else samples + extra * float(strength)
    if normalize:
        noised = noised / noised.std()
    if mask is not None:
        if samples.ndim != 4:
            raise NodeInputError("mask", "a mask on a video latent [B, C, T, H, W] is not supported (the pack "
                                 "resizes it to the frame and height axes)", "disconnect the mask")
        weights = as_mask(mask, "mask")
        weights = F.interpolate(weights.reshape(-1, 1, *weights.shape[-2:]).float(), size=noised.shape[2:4],
                                mode="bilinear").expand(-1, noised.shape[1], -1, -1)
        if weights.shape[0] < noised.shape[0]:
            weights = weights.repeat((noised.shape[0] - 1) // weights.shape[0] + 1, 1, 1, 1)[:noised.shape[0]]
        noised = weights * noised + (1 - weights) * samples
    if float(mix_randn_amount) > 0 and seed is not None:
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        noised = noised + float(mix_randn_amount) * torch.randn(noised.shape, dtype=noised.dtype, generator=generator)
    return ({"samples": noised},)
