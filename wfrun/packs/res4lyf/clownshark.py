"""ClownsharKSampler_Beta (RES4LYF ``beta/samplers.py``, 81fe5f4d; custom sigmas and extra options as of
0dc91c00, 2026-01), ``sampler_mode`` "standard".

The node is RES4LYF's SharkSampler (noise, schedule, CFG guider) around its
ClownSamplerAdvanced (``sample_rk_beta`` with the node's settings). For the RES samplers
wfrun has (:mod:`wfrun.sampling.ksampler.res4lyf`: ``res_2m``, ``res_3m``, ``res_2s``,
``res_3s``, named here in the pack's folder form, e.g. ``multistep/res_2m``), with no
guides and neutral options, it differs from KSampler picking the same name in three ways,
and only those are done here (the rest is core SamplerCustom, found in the executor
registry: packs do not import each other):

1. Starting noise: per batch item ``b`` a float64 Gaussian draw of that item's shape on
   the CPU from a generator seeded ``seed + b``, standardised over the whole tensor, then
   per ``[..., H, W]`` slice (mean 0, std 1), then shifted to mean 0 (the pack's
   ``noise_normalize`` with its channelwise z-score); each batch item is sampled on its own.
2. Step noise: seeded ``seed + 1`` (``seed`` -1: -1, the pack's "not set"), stage noise
   that plus 10000 (KSampler's RES names: always -1).
3. ``eta`` is both the per-step and the per-stage noise amount (an ``eta`` or
   ``eta_substep`` in ``options`` replaces them, as the pack reads them there).

Schedule: ``scheduler`` over the model's flow sigmas for ``steps`` (with ``denoise`` below
1 the last ``steps + 1`` of ``int(steps / denoise)``), as the pack's ``get_sigmas`` (the
same as KSampler's); or the connected ``sigmas`` times ``denoise`` (``steps`` and
``scheduler`` then unused), as the pack scales a given schedule. ``options`` may carry
ClownOptions_ExtraOptions_Beta's text: the settings wfrun runs (``default_dtype``,
``skip_final_model_call``, the multistep start and fallback) go into the sampler's
:class:`~wfrun.sampling.ksampler.res4lyf.ResOptions`; the starting noise is drawn in that
``default_dtype`` as well. ``steps_to_run`` (-1: all) stops after that many steps, leaving the
latent noisy (no final denoise onto ``sigma_min``). ``denoised`` is the last step's x0
prediction (the pack's last preview), or ``output`` when no step ran. The ``options``
output is the input options plus the settings the pack writes back into them.

Differences from the pack: the starting latent and noise enter the sampler in float32 (as
KSampler's do in wfrun; the pack keeps them in float64), and the result is float32; the
output LATENT does not carry the pack's chaining entries (``state_info``, ``model``,
prompts, ``sampler``), so "resample"/"unsample" modes and chained samplers are refused,
as are ``guides``, a negative ``denoise`` or ``cfg``, a missing model/prompt,
and any option other than the neutral ones (ClownOptions_DetailBoost_Beta at weight 0).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler import res4lyf as res
from wfrun.sampling.ksampler.wrapped import Denoiser, SamplerWrapper

from .extra_options import EXTRA_OPTIONS_KEY, read_extra_options
from .options import DETAIL_BOOST_KEY

#: The pack's folder-form sampler names whose ``rk_type`` wfrun runs (folder stripped).
RUNNABLE_RK_TYPES = ("res_2m", "res_3m", "res_2s", "res_3s")

#: Option keys the pack writes back into its OPTIONS output, and the values that keep
#: the sampler neutral when they come back in (eta / eta_substep are taken as settings).
NEUTRAL_OPTIONS: dict[str, Any] = {
    "noise_type_sde": "gaussian", "noise_type_sde_substep": "gaussian", "noise_type_init": "gaussian",
    "noise_stdev": 1.0, "denoise_alt": 1.0,
}


def start_noise(latent: torch.Tensor, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The pack's starting noise for ``latent`` (one batch item), drawn on the CPU in the
    sampler's ``default_dtype`` (float64 unless an extra option sets it)."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seed))
    noise = torch.randn(latent.shape, dtype=dtype, device="cpu", generator=generator)
    noise = (noise - noise.mean()) / noise.std()
    noise = (noise - noise.mean(dim=(-2, -1), keepdim=True)) / noise.std(dim=(-2, -1), keepdim=True)
    return noise - noise.mean()


class ClownRun(SamplerWrapper):
    """The SAMPLER handed to core SamplerCustom: the RES sampler by name, with the pack's
    starting noise (seeded ``seed``) and :class:`~wfrun.sampling.ksampler.res4lyf.ResOptions`."""

    def __init__(self, inner: Any, seed: int, options: res.ResOptions):
        self.inner, self.seed, self.options = inner, int(seed), options

    def wrap(self, denoiser: Denoiser, sigmas: torch.Tensor, cfg: float) -> Denoiser:
        return denoiser

    def start_noise(self, latent: torch.Tensor, seed: int) -> torch.Tensor:
        return start_noise(latent, self.seed, self.options.dtype)

    def sampler_options(self) -> res.ResOptions:
        return self.options


def _core(class_type: str) -> Any:
    fn = registered(class_type)
    if fn is None:  # comfy_core_models is part of wfrun; only a broken install lacks it
        raise NodeInputError("model", f"the core {class_type} is not available in this wfrun")
    return fn


def rk_type(sampler_name: Any) -> str:
    """The ``rk_type`` of a sampler name (the pack strips the folder), if wfrun runs it."""
    name = str(sampler_name).split("/")[-1]
    if name not in RUNNABLE_RK_TYPES:
        raise NodeInputError("sampler_name", f"RES4LYF sampler {sampler_name!r} is not implemented in wfrun "
                             f"(it runs {', '.join(RUNNABLE_RK_TYPES)})",
                             "pick multistep/res_2m, multistep/res_3m, exponential/res_2s or exponential/res_3s")
    return name


def _options(options: Any, eta: float) -> tuple[dict, float, float, dict]:
    """The incoming options (checked neutral), the (eta, eta_substep) they leave and the
    sampler settings of their extra-options text."""
    if options is None:
        return {}, eta, eta, {}
    if not isinstance(options, dict):
        raise NodeInputError("options", f"expected OPTIONS from a ClownOptions node, got {type(options).__name__}")
    step_eta, stage_eta, extra = eta, eta, {}
    for key, value in options.items():
        if key == DETAIL_BOOST_KEY and isinstance(value, dict) and value.get("weight") == 0.0:
            continue
        if key == EXTRA_OPTIONS_KEY and isinstance(value, str):
            extra = read_extra_options(value)
            continue
        if key in ("eta", "eta_substep") and isinstance(value, (int, float)) and not isinstance(value, bool):
            step_eta, stage_eta = (float(value), stage_eta) if key == "eta" else (step_eta, float(value))
            continue
        if key in NEUTRAL_OPTIONS and value == NEUTRAL_OPTIONS[key]:
            continue
        raise NodeInputError("options", f"RES4LYF option {key!r} = {value!r} is not supported in wfrun's "
                             "ClownsharKSampler_Beta (only neutral options and eta are)",
                             "disconnect the ClownOptions node that sets it")
    return dict(options), step_eta, stage_eta, extra


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise NodeInputError(name, f"expected a number, got {value!r}")
    return float(value)


@executor("ClownsharKSampler_Beta")
def clownshark_sampler(ctx: ExecContext, eta: Any, sampler_name: Any, scheduler: Any, steps: Any, steps_to_run: Any,
                       denoise: Any, cfg: Any, seed: Any, sampler_mode: Any, bongmath: Any, model: Any = None,
                       positive: Any = None, negative: Any = None, latent_image: Any = None, sigmas: Any = None,
                       guides: Any = None, options: Any = None, **_: Any) -> tuple:
    if sampler_mode != "standard":
        raise NodeInputError("sampler_mode", f"sampler_mode {sampler_mode!r} is not supported in wfrun "
                             "(RES4LYF's unsample/resample chaining state is not ported)", "use standard")
    if guides is not None:
        raise NodeInputError("guides", "guides on ClownsharKSampler_Beta are not supported in wfrun",
                             "disconnect guides")
    if sigmas is not None and (not isinstance(sigmas, torch.Tensor) or sigmas.dim() != 1 or len(sigmas) < 2):
        raise NodeInputError("sigmas", f"expected SIGMAS of at least 2 values, got {sigmas!r:.80}",
                             "connect a schedule")
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", "ClownsharKSampler_Beta needs a MODEL here (a model carried by a chained "
                             f"latent is not supported), got {type(model).__name__}", "connect the model")
    for name, value in (("positive", positive), ("negative", negative)):
        if value is None:
            raise NodeInputError(name, f"a missing {name} prompt (the pack's zeroed conditioning) is not supported "
                                 "in wfrun", f"connect {name}")
    if not isinstance(latent_image, dict) or not isinstance(latent_image.get("samples"), torch.Tensor):
        raise NodeInputError("latent_image", f"expected a LATENT, got {type(latent_image).__name__}")
    if any(key in latent_image for key in ("state_info", "model", "sampler")):
        raise NodeInputError("latent_image", "a latent chained from another RES4LYF sampler is not supported in "
                             "wfrun", "decode it, or use a plain latent")
    name = rk_type(sampler_name)
    if scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}", f"use one of {', '.join(ks.SCHEDULER_NAMES)}")
    eta, cfg, denoise = _number("eta", eta), _number("cfg", cfg), _number("denoise", denoise)
    if cfg < 0:
        raise NodeInputError("cfg", "a negative cfg (the pack's channelwise CFG) is not supported in wfrun",
                             "use a cfg of 0 or more")
    if denoise <= 0:
        raise NodeInputError("denoise", f"denoise {denoise} is not supported in wfrun (negative: the pack's sigma "
                             "scaling, not ported; 0: the pack's schedule is empty and the node fails)",
                             "use a denoise above 0")
    if not isinstance(bongmath, bool):
        raise NodeInputError("bongmath", f"expected true or false, got {bongmath!r}")
    for label, value in (("steps", steps), ("steps_to_run", steps_to_run), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise NodeInputError(label, f"expected a whole number, got {value!r}")
    incoming, step_eta, stage_eta, extra = _options(options, eta)
    settings = res.ResOptions(eta=step_eta, eta_substep=stage_eta, noise_seed=seed + 1 if seed != -1 else -1,
                              bongmath=bongmath, steps_to_run=steps_to_run, **extra)

    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    if sigmas is not None:  # the pack scales a given schedule by denoise (its steps and scheduler unused)
        run_sigmas = sigmas.detach().to(device="cpu", dtype=settings.dtype) * denoise
    else:
        try:
            run_sigmas = ks.ksampler_sigmas(ms, scheduler, int(steps), denoise, sampler_name=name)
        except ks.SchedulerStepsError as err:
            raise NodeInputError("steps", str(err), "use more steps or another scheduler") from None
    (select,) = _core("KSamplerSelect")(ctx, sampler_name=name)
    custom = _core("SamplerCustom")
    samples = latent_image["samples"]
    mask = latent_image.get("noise_mask")
    outs, denoised = [], []
    for b in range(samples.shape[0]):  # the pack samples each batch item on its own
        item = {"samples": samples[b:b + 1]}
        if mask is not None:  # each item gets the whole mask, as in the pack
            item["noise_mask"] = mask
        out, den = custom(ctx, model=model, add_noise=True, noise_seed=seed, cfg=cfg, positive=positive,
                          negative=negative, sampler=ClownRun(select, seed + b, settings), sigmas=run_sigmas,
                          latent_image=item)
        outs.append(out["samples"])
        denoised.append(den["samples"])
    output = {"samples": torch.cat(outs)}
    den_out = {"samples": torch.cat(denoised)}
    if mask is not None:
        output["noise_mask"] = den_out["noise_mask"] = mask
    written = {**incoming, **NEUTRAL_OPTIONS, "eta": step_eta, "eta_substep": stage_eta}
    return output, den_out, written
