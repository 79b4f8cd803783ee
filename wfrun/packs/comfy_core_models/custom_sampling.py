r"""ComfyUI's custom-sampling nodes (``comfy_extras/nodes_custom_sampler.py``) on a Wan MODEL:
KSamplerSelect, BasicScheduler and SamplerCustom, on the same sampling as KSampler
(:func:`.ksampler_nodes.run_sampler`).

* KSamplerSelect gives a SAMPLER: here the :class:`SamplerChoice` naming one of KSampler's
  samplers (one wfrun implements: others are refused on ``sampler_name``).
* BasicScheduler gives SIGMAS (a 1-D float32 CPU tensor): the named schedule over the
  model's flow sigmas (its shift) for ``steps`` steps, or, with ``denoise`` below 1, the last
  ``steps + 1`` sigmas of a schedule of ``int(steps / denoise)`` steps; ``denoise`` 0 gives no
  sigmas. Unlike KSampler, it never drops the penultimate sigma for the samplers that do so
  (ComfyUI's ``calculate_sigmas`` without KSampler's adjustment).
* SamplerCustom samples ``latent_image`` along ``sigmas`` with the SAMPLER, CFG ``cfg``, noise
  from ``noise_seed`` (none with ``add_noise`` off), keeping a ``noise_mask`` as KSampler does.
  Its second output, ``denoised_output``, is the last step's x0 prediction (out of the
  model's latent space), or the first output when no step ran.
* SamplerCustomAdvanced does the same from a NOISE (RandomNoise: its seed; DisableNoise: none
  added, seed 0) and a GUIDER (CFGGuider: model, prompts, CFG; BasicGuider: one prompt at CFG
  1, so no negative pass runs). SplitSigmas / SplitSigmasDenoise cut SIGMAS as ComfyUI does.
* BetaSamplingScheduler gives the ``beta`` schedule with its own ``alpha`` and ``beta``
  (``comfy.samplers.beta_scheduler``: table picks at the beta distribution's quantiles,
  repeated picks dropped, a final 0).
* ManualSigmas gives the numbers written in its text as SIGMAS, in order, by ComfyUI's
  pattern ``[-+]?(?:\d*\.*\d+)`` (so ``1e-3`` reads as 1 and -3, as there); at most
  :data:`MAX_MANUAL_SIGMAS` of them.
* SamplerARVideo's SAMPLER runs the causal model's block-by-block loop instead
  (:mod:`.ar_video`).
* A SAMPLER may be wrapped (``sampling.ksampler.wrapped``, e.g. Detail Daemon): the wrappers
  change the denoiser the named sampler calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.ar_video import ARVideoSampler, run_ar_video
from wfrun.packs.comfy_core_models.ksampler_nodes import SAMPLER_OOM_HINT, _check_names, _nag, run_sampler
from wfrun.packs.comfy_core_models.model_patches import check_model
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler.samplers import CFG_PP_SAMPLERS
from wfrun.sampling.ksampler.schedulers import beta as beta_schedule
from wfrun.sampling.ksampler.wrapped import GuiderChoice, run_settings, unwrap


@dataclass(frozen=True)
class SamplerChoice:
    """A SAMPLER value: one of KSampler's samplers, by name, with the keyword settings the
    sampler nodes give it (``eta``, ``s_noise``, …; ComfyUI's ``ksampler(name, extra_options)``)."""

    sampler_name: str
    options: tuple[tuple[str, Any], ...] = ()


@executor("KSamplerSelect")
def ksampler_select(ctx: ExecContext, sampler_name: Any, **_: Any) -> tuple:
    _check_names(sampler_name, None)
    return (SamplerChoice(sampler_name),)


def basic_sigmas(ms: ks.FlowSampling, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    total = steps
    if denoise < 1.0:
        if denoise <= 0.0:
            return torch.zeros(0, dtype=torch.float32)
        total = int(steps / denoise)
    try:
        return ks.scheduler_sigmas(ms, scheduler, total).float().cpu()[-(steps + 1):]
    except ks.SchedulerStepsError as err:
        raise NodeInputError("steps", str(err), "use more steps or another scheduler") from None


@executor("BasicScheduler")
def basic_scheduler(ctx: ExecContext, model: Any, scheduler: Any, steps: Any, denoise: Any, **_: Any) -> tuple:
    model = check_model(model)
    if scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}", f"use one of {', '.join(ks.SCHEDULER_NAMES)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise NodeInputError("steps", f"steps: expected a whole number of at least 1, found {steps!r}")
    if isinstance(denoise, bool) or not isinstance(denoise, (int, float)):
        raise NodeInputError("denoise", f"denoise: expected a number from 0 to 1, found {denoise!r}")
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    return (basic_sigmas(ms, scheduler, steps, float(denoise)),)


#: Most numbers ManualSigmas reads (a bound on untrusted text; real schedules hold dozens).
MAX_MANUAL_SIGMAS = 10_000
_NUMBER = re.compile(r"[-+]?(?:\d*\.*\d+)")


@executor("BetaSamplingScheduler")
def beta_sampling_scheduler(ctx: ExecContext, model: Any, steps: Any, alpha: Any, beta: Any, **_: Any) -> tuple:
    model = check_model(model)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise NodeInputError("steps", f"steps: expected a whole number of at least 1, found {steps!r}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise NodeInputError(name, f"{name}: expected a number above 0, found {value!r}",
                                 "the beta distribution needs positive alpha and beta")
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    return (beta_schedule(ms, int(steps), float(alpha), float(beta)),)


@executor("ManualSigmas")
def manual_sigmas(ctx: ExecContext, sigmas: Any, **_: Any) -> tuple:
    if not isinstance(sigmas, str):
        raise NodeInputError("sigmas", f"sigmas: expected text, found {type(sigmas).__name__}")
    numbers = _NUMBER.findall(sigmas[:1_000_000])
    if len(numbers) > MAX_MANUAL_SIGMAS:
        raise NodeInputError("sigmas", f"{len(numbers)} numbers; wfrun reads at most {MAX_MANUAL_SIGMAS}")
    values = []
    for text in numbers:
        try:
            values.append(float(text))
        except ValueError:  # "1..5" matches the pattern but is no number (ComfyUI fails too)
            raise NodeInputError("sigmas", f"{text!r} is not a number", "write numbers separated by commas") from None
    return (torch.tensor(values, dtype=torch.float32),)


def _sigmas(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 1 or not value.is_floating_point():
        found = f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise NodeInputError("sigmas", f"sigmas: expected SIGMAS (a 1-D float tensor), found {found}",
                             "connect a BasicScheduler (or another scheduler node) here")
    return value.float().cpu()


def sample_custom(ctx: ExecContext, model: Any, positive: Any, negative: Any, cfg: float, seed: int, add_noise: bool,
                  sampler: Any, sigmas: Any, latent_image: Any, guider: GuiderChoice | None = None,
                  nag: Any = None) -> tuple:
    """``comfy.sample.sample_custom`` / a guider's ``sample``: ``latent_image`` along ``sigmas``
    with the SAMPLER (and the wrappers around it), CFG ``cfg``; returns (output, denoised).
    ``nag``: Normalized Attention Guidance on the positive passes (ComfyUI-NAG), or None."""
    base, wrappers = unwrap(sampler)
    if isinstance(base, ARVideoSampler):  # SamplerARVideo: the causal model's own loop
        if nag is not None or (guider is not None and (guider.cfg_window is not None or guider.nag is not None)):
            raise NodeInputError("guider", "NAG or a scheduled CFG with the ar_video sampler is not supported",
                                 "use a CFGGuider at cfg 1")
        return run_ar_video(ctx, model, positive, cfg, seed, add_noise, base, wrappers, _sigmas(sigmas), latent_image)
    if not isinstance(base, SamplerChoice):
        raise NodeInputError("sampler", f"sampler: expected a SAMPLER, found {type(base).__name__}",
                             "connect a KSamplerSelect here")
    if wrappers and base.sampler_name in CFG_PP_SAMPLERS:
        raise NodeInputError("sampler", f"{type(wrappers[0]).__name__} around the CFG++ sampler "
                             f"{base.sampler_name!r} is not supported", "wrap a sampler without _cfg_pp")
    sigmas = _sigmas(sigmas)

    scheduled = guider is not None and guider.cfg_window is not None
    if scheduled and base.sampler_name in CFG_PP_SAMPLERS:
        raise NodeInputError("sampler", f"a scheduled CFG with the CFG++ sampler {base.sampler_name!r} is not "
                             "supported", "use a sampler without _cfg_pp")

    def wrap(denoiser: Any, run_sigmas: torch.Tensor) -> Any:
        if scheduled:  # the guider's CFG for each step, innermost: it sets the CFG denoiser's value
            denoiser = guider.scheduled(denoiser, run_sigmas)
        for wrapper in wrappers:  # outermost first: the base sampler calls the innermost
            denoiser = wrapper.wrap(denoiser, run_sigmas, float(cfg))
        return denoiser

    start_noise, sampler_options = run_settings(wrappers)
    if sampler_options is None and base.options:
        sampler_options = dict(base.options)
    x0: dict = {}
    out = run_sampler(ctx, model, positive, negative, latent_image, seed=int(seed), steps=len(sigmas) - 1,
                      cfg=float(cfg), sampler_name=base.sampler_name, scheduler=None,
                      sigmas_for=lambda ms: sigmas, add_noise=bool(add_noise), x0_out=x0, sampler_input="sampler",
                      wrap_denoiser=wrap if (wrappers or scheduled) else None,
                      start_noise=start_noise, sampler_options=sampler_options, nag=_nag(nag))
    if "x0" not in x0:
        return out, out
    denoised = dict(out)
    denoised["samples"] = x0["x0"]
    return out, denoised


@executor("SamplerCustom", oom_hint=SAMPLER_OOM_HINT)
def sampler_custom(ctx: ExecContext, model: Any, add_noise: Any, noise_seed: Any, cfg: Any, positive: Any,
                   negative: Any, sampler: Any, sigmas: Any, latent_image: Any, nag: Any = None, **_: Any) -> tuple:
    """SamplerCustom; ``nag`` (not a widget: ComfyUI-NAG's SamplerCustomWithNAG passes it) adds NAG."""
    return sample_custom(ctx, model, positive, negative, float(cfg), int(noise_seed), bool(add_noise), sampler,
                         sigmas, latent_image, nag=nag)


@dataclass(frozen=True)
class NoiseChoice:
    """NOISE: RandomNoise's seed (the initial noise and the samplers' per-step noise), or
    DisableNoise (no noise added; seed 0, as ComfyUI's empty noise)."""

    seed: int
    enabled: bool = True


@executor("RandomNoise")
def random_noise(ctx: ExecContext, noise_seed: Any, **_: Any) -> tuple:
    if isinstance(noise_seed, bool) or not isinstance(noise_seed, int):
        raise NodeInputError("noise_seed", f"noise_seed: expected a whole number, found {noise_seed!r}")
    return (NoiseChoice(int(noise_seed)),)


@executor("DisableNoise")
def disable_noise(ctx: ExecContext, **_: Any) -> tuple:
    return (NoiseChoice(0, enabled=False),)


@executor("CFGGuider")
def cfg_guider(ctx: ExecContext, model: Any, positive: Any, negative: Any, cfg: Any, **_: Any) -> tuple:
    return (GuiderChoice(check_model(model), positive, negative, float(cfg)),)


@executor("BasicGuider")
def basic_guider(ctx: ExecContext, model: Any, conditioning: Any, **_: Any) -> tuple:
    return (GuiderChoice(check_model(model), conditioning, None, 1.0),)


@executor("SamplerCustomAdvanced", oom_hint=SAMPLER_OOM_HINT)
def sampler_custom_advanced(ctx: ExecContext, noise: Any, guider: Any, sampler: Any, sigmas: Any, latent_image: Any,
                            **_: Any) -> tuple:
    if not isinstance(noise, NoiseChoice):
        raise NodeInputError("noise", f"noise: expected NOISE, found {type(noise).__name__}",
                             "connect a RandomNoise or DisableNoise here")
    if not isinstance(guider, GuiderChoice):
        raise NodeInputError("guider", f"guider: expected a GUIDER, found {type(guider).__name__}",
                             "connect a CFGGuider or BasicGuider here")
    base, _ = unwrap(sampler)
    if guider.negative is None and isinstance(base, SamplerChoice) and base.sampler_name in CFG_PP_SAMPLERS:
        raise NodeInputError("sampler", f"the CFG++ sampler {base.sampler_name!r} needs a negative prompt",
                             "use a CFGGuider, or a sampler without _cfg_pp")
    # BasicGuider: CFG 1 never runs the negative pass, so the positive stands in for it
    negative = guider.negative if guider.negative is not None else guider.positive
    steps = len(_sigmas(sigmas)) - 1
    if isinstance(guider.cfg, (list, tuple)) and len(guider.cfg) != steps:
        raise NodeInputError("guider", f"the guider's cfg list has {len(guider.cfg)} values for {steps} steps",
                             "give one cfg value per step")
    cfg = guider.cfg if guider.cfg_window is None else 1.0  # a schedule sets each step's value
    return sample_custom(ctx, guider.model, guider.positive, negative, cfg, noise.seed, noise.enabled,
                         sampler, sigmas, latent_image, guider=guider, nag=guider.nag)


@executor("SplitSigmas")
def split_sigmas(ctx: ExecContext, sigmas: Any, step: Any, **_: Any) -> tuple:
    """(the first ``step + 1`` sigmas, the sigmas from ``step`` on): they share one sigma."""
    sigmas = _sigmas(sigmas)
    return (sigmas[:int(step) + 1], sigmas[int(step):])


@executor("SplitSigmasDenoise")
def split_sigmas_denoise(ctx: ExecContext, sigmas: Any, denoise: Any, **_: Any) -> tuple:
    """The last ``round(steps * denoise)`` steps' sigmas apart, ComfyUI's slices exactly
    (``denoise`` 0 gives an empty first part, as there)."""
    sigmas = _sigmas(sigmas)
    steps = max(sigmas.shape[-1] - 1, 0)
    total = round(steps * float(denoise))
    return (sigmas[:-total], sigmas[-(total + 1):])


@executor("wanBlockSwap")
def wan_block_swap(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    """ComfyUI's compatibility ``wanBlockSwap`` (the custom node it replaced swapped blocks to
    the CPU): the model unchanged; wfrun's residency moves models as memory asks."""
    return (check_model(model),)
