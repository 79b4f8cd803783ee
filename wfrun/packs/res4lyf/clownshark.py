"""ClownsharKSampler_Beta (RES4LYF ``beta/samplers.py``, 81fe5f4d; custom sigmas and extra options as of
0dc91c00, 2026-01), all three ``sampler_mode`` values (see "Modes" below).

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

Every input named ``options…`` ("options 2", "options 3", ...) is merged into ``options``
as the pack's OptionsManager does (:func:`.shark_options.merge_options`).

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

Chaining (ClownsharkChainsampler_Beta, "resample"): like the pack, the output LATENT
carries what a chained sampler continues from: ``state_info`` (here one
:class:`~wfrun.sampling.ksampler.res4lyf.ResState` per batch item: the prepared schedule,
the step reached, the latent there before its cast to float32, the multistep history and
the two noise generators' states), and the ``model``, ``positive`` and ``negative`` used,
which a later RES4LYF sampler takes when its own inputs are not connected. A chain
sampler resumes at that step of that schedule (its own ``sigmas`` are not used, as the
pack replaces them by the stored schedule once a step has run) with its own sampler name,
eta, cfg, bongmath and ``steps_to_run``; its seed is the pack's -1, so the noise
generators continue where they stopped. A latent whose run already ended passes through
unchanged (no step, no model call). So a sampler stopped after k steps and a chain
sampler with the same settings give what one sampler gives in one go.

Modes (SharkSampler and ``sample_rk_beta`` at 81fe5f4d, 2025-07-09, the version the saved
workflows name; unchanged to 2025-10-26 but for one rule: from 75915ec the state's noise
generators continue whatever the seed). "unsample" reverses the schedule
and appends 0, "resample" puts a 0 before and after it (:func:`mode_sigmas`); the leading 0
is the pack's flag that keeps ComfyUI from noising the latent, so in both modes the latent
enters as it is. The sampler then strips the padding and prepares the schedule, and picks
its start (:func:`wfrun.sampling.ksampler.res4lyf.mode_schedule`): a fresh latent
"resample"d is taken as the sample at the schedule's first sigma (bongmath skipped on that
first step, as the pack skips it on step 0 of a padded schedule); a fresh latent
"unsample"d is taken as the sample at ``sigma_min`` and integrated up the schedule to its
top (no final model call: the output is the inverted noise, with its ``state_info``). A
latent carrying ``state_info`` starts from the state's latent and multistep history in
either mode: "resample" after a stopped standard/resample run continues its stored schedule
at its step (this node's own ``steps``/``scheduler`` are then unused); "resample" after an
unsample comes down from the sigma that run reached; "unsample" after a stopped run climbs
back from where it stopped. The chain sampler hands the stored schedule (reversed when
resampling what was unsampled) unless ``sigmas`` are connected. ``seed`` -1 continues the
state's noise generators; another seed draws fresh ones (seed + 1; 81fe5f4d's rule). In "standard" mode a
latent's state is ignored (the pack's too).

Differences from the pack: the starting latent and noise enter the sampler in float32 (as
KSampler's do in wfrun; the pack keeps them in float64), and the result is float32; the
output LATENT carries no ``sampler`` entry. Refused: in resample/unsample mode a noise mask
(the pack's masked noise there may come from torch's global seed) and, with seed -1 and no
state, an unsample schedule not ending at 0 (the pack noises the latent with torch's global
seed); the pack's own failures (a sigma reached twice in the new schedule); the
``unsample_*``/``rebounds`` options (non-neutral options are refused as a whole), as are ``guides``,
a negative ``denoise`` or ``cfg``, a missing model/prompt, any option other than the
neutral ones (ClownOptions_DetailBoost_Beta at weight 0; SharkOptions_Beta and
ClownOptions_SwapSampler_Beta as :mod:`.shark_options` says: the starting noise's scale is
honoured, a swap the run would reach is refused), and in a chain: a latent resized
since its sampler stopped (the pack re-noises a resized copy), a noise mask (the pack
seeds its masked noise from torch's global seed) and connected ``sigmas`` before any step
has run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ksampler import res4lyf as res
from wfrun.sampling.ksampler.wrapped import Denoiser, SamplerWrapper

from .extra_options import EXTRA_OPTIONS_KEY, read_extra_options
from .options import DETAIL_BOOST_KEY
from .shark_options import NOISE_SCALE_KEY, OLD_NOISE_SCALE_KEY, SWAP_KEYS, check_swap, merge_options

#: The pack's folder-form sampler names whose ``rk_type`` wfrun runs (folder stripped).
RUNNABLE_RK_TYPES = ("res_2m", "res_3m", "res_2s", "res_3s")

#: Option keys the pack writes back into its OPTIONS output, and the values that keep
#: the sampler neutral when they come back in (eta / eta_substep are taken as settings).
NEUTRAL_OPTIONS: dict[str, Any] = {
    "noise_type_sde": "gaussian", "noise_type_sde_substep": "gaussian", "noise_type_init": "gaussian",
    "noise_stdev": 1.0, "denoise_alt": 1.0,
}


def start_noise(latent: torch.Tensor, seed: int, dtype: torch.dtype = torch.float64, scale: float = 1.0
                ) -> torch.Tensor:
    """The pack's starting noise for ``latent`` (one batch item), drawn on the CPU in the
    sampler's ``default_dtype`` (float64 unless an extra option sets it), times ``scale``
    (SharkOptions_Beta's ``s_noise_init``) after the normalisation, then shifted to mean 0."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seed))
    noise = torch.randn(latent.shape, dtype=dtype, device="cpu", generator=generator)
    noise = (noise - noise.mean()) / noise.std()
    noise = (noise - noise.mean(dim=(-2, -1), keepdim=True)) / noise.std(dim=(-2, -1), keepdim=True)
    noise = noise * scale if scale != 1.0 else noise
    return noise - noise.mean()


class ClownRun(SamplerWrapper):
    """The SAMPLER handed to core SamplerCustom: the RES sampler by name, with the pack's
    starting noise (seeded ``seed``) and :class:`~wfrun.sampling.ksampler.res4lyf.ResOptions`."""

    def __init__(self, inner: Any, seed: int, options: res.ResOptions, noise_scale: float = 1.0):
        self.inner, self.seed, self.options, self.noise_scale = inner, int(seed), options, float(noise_scale)

    def wrap(self, denoiser: Denoiser, sigmas: torch.Tensor, cfg: float) -> Denoiser:
        return denoiser

    def start_noise(self, latent: torch.Tensor, seed: int) -> torch.Tensor:
        return start_noise(latent, self.seed, self.options.dtype, self.noise_scale)

    def sampler_options(self) -> res.ResOptions:
        return self.options


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "model")


def rk_type(sampler_name: Any) -> str:
    """The ``rk_type`` of a sampler name (the pack strips the folder), if wfrun runs it."""
    name = str(sampler_name).split("/")[-1]
    if name not in RUNNABLE_RK_TYPES:
        raise NodeInputError("sampler_name", f"RES4LYF sampler {sampler_name!r} is not implemented in wfrun "
                             f"(it runs {', '.join(RUNNABLE_RK_TYPES)})",
                             "pick multistep/res_2m, multistep/res_3m, exponential/res_2s or exponential/res_3s")
    return name


@dataclasses.dataclass(frozen=True)
class SharkSettings:
    """What SharkOptions_Beta and ClownOptions_SwapSampler_Beta leave in the options: the
    starting noise's scale, and the sampler swap (checked against the run's steps)."""

    noise_scale: float = 1.0
    swap: dict = dataclasses.field(default_factory=dict)


def _options(options: Any, eta: float) -> tuple[dict, float, float, dict, SharkSettings]:
    """The incoming options (checked neutral), the (eta, eta_substep) they leave, the
    sampler settings of their extra-options text and the Shark/swap settings."""
    if options is None:
        return {}, eta, eta, {}, SharkSettings()
    if not isinstance(options, dict):
        raise NodeInputError("options", f"expected OPTIONS from a ClownOptions node, got {type(options).__name__}")
    step_eta, stage_eta, extra = eta, eta, {}
    scales: dict[str, float] = {}
    for key, value in options.items():
        if key in (NOISE_SCALE_KEY, OLD_NOISE_SCALE_KEY) and isinstance(value, (int, float)) \
                and not isinstance(value, bool) and math.isfinite(float(value)):
            scales[key] = float(value)
            continue
        if key in SWAP_KEYS or (key == "channelwise_cfg" and value is False):
            continue
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
    swap = {key: options[key] for key in SWAP_KEYS if key in options}
    if float(swap.get("rk_swap_threshold") or 0.0) > 0:
        raise NodeInputError("options", "swapping samplers on a step error threshold is not supported in wfrun",
                             "set swap_below_err to 0 on ClownOptions_SwapSampler_Beta")
    scale = scales.get(NOISE_SCALE_KEY, scales.get(OLD_NOISE_SCALE_KEY, 1.0))
    return dict(options), step_eta, stage_eta, extra, SharkSettings(noise_scale=scale, swap=swap)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise NodeInputError(name, f"expected a number, got {value!r}")
    return float(value)


#: The entries a RES4LYF sampler adds to its output LATENT for a chained sampler.
CHAIN_KEYS = ("state_info", "model", "positive", "negative")


def _chained(latent: Any, model: Any, positive: Any, negative: Any) -> tuple[Any, Any, Any]:
    """Model and prompts: the connected ones, else those a chained latent carries (the pack)."""
    if isinstance(latent, dict):
        model = latent.get("model") if model is None else model
        positive = latent.get("positive") if positive is None else positive
        negative = latent.get("negative") if negative is None else negative
    return model, positive, negative


def _check_inputs(model: Any, positive: Any, negative: Any, latent_image: Any, guides: Any) -> None:
    if guides is not None:
        raise NodeInputError("guides", "RES4LYF guides are not supported in wfrun", "disconnect guides")
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL, got {type(model).__name__}", "connect the model")
    for name, value in (("positive", positive), ("negative", negative)):
        if value is None:
            raise NodeInputError(name, f"a missing {name} prompt (the pack's zeroed conditioning) is not supported "
                                 "in wfrun", f"connect {name}")
    if not isinstance(latent_image, dict) or not isinstance(latent_image.get("samples"), torch.Tensor):
        raise NodeInputError("latent_image", f"expected a LATENT, got {type(latent_image).__name__}")


def _settings(eta: Any, cfg: Any, bongmath: Any, steps_to_run: Any, seed: int, options: Any,
              sampler_mode: str = "standard") -> tuple[res.ResOptions, float, dict, SharkSettings]:
    eta, cfg = _number("eta", eta), _number("cfg", cfg)
    if cfg < 0:
        raise NodeInputError("cfg", "a negative cfg (the pack's channelwise CFG) is not supported in wfrun",
                             "use a cfg of 0 or more")
    if not isinstance(bongmath, bool):
        raise NodeInputError("bongmath", f"expected true or false, got {bongmath!r}")
    if isinstance(steps_to_run, bool) or not isinstance(steps_to_run, int):
        raise NodeInputError("steps_to_run", f"expected a whole number, got {steps_to_run!r}")
    incoming, step_eta, stage_eta, extra, shark = _options(options, eta)
    settings = res.ResOptions(eta=step_eta, eta_substep=stage_eta, noise_seed=seed + 1 if seed != -1 else -1,
                              bongmath=bongmath, steps_to_run=steps_to_run, sampler_mode=sampler_mode, **extra)
    written = {**incoming, **NEUTRAL_OPTIONS, "eta": step_eta, "eta_substep": stage_eta}
    if OLD_NOISE_SCALE_KEY in incoming:  # the pack writes back the noise_stdev it read
        written[OLD_NOISE_SCALE_KEY] = incoming[OLD_NOISE_SCALE_KEY]
    return settings, cfg, written, shark


def mode_sigmas(sigmas: torch.Tensor, sampler_mode: str) -> torch.Tensor:
    """SharkSampler's schedule for a ``sampler_mode`` (81fe5f4d): "unsample" reverses it and
    appends 0, "resample" puts a 0 before and after it; "standard" leaves it. A leading 0
    is the pack's flag that keeps ComfyUI from noising the latent (module docs)."""
    zero = sigmas.new_zeros(1)
    if sampler_mode == "unsample":
        return torch.cat([torch.flip(sigmas, dims=[0]), zero])
    if sampler_mode == "resample":
        return torch.cat([zero, sigmas, zero])
    return sigmas


def _run(ctx: ExecContext, name: str, settings: res.ResOptions, seed: int, cfg: float, model: Any, positive: Any,
         negative: Any, samples: torch.Tensor, mask: Any, run_sigmas: torch.Tensor,
         resume: list[res.ResState] | None, noise_scale: float = 1.0) -> tuple[dict, dict]:
    """Sample each batch item on its own (the pack does), through core SamplerCustom with
    the RES sampler; the outputs carry the chain entries. Outside "standard" mode
    ``run_sigmas`` is the padded schedule of :func:`mode_sigmas` (float64, handed to the
    sampler exactly) and ``resume`` the state the latent carries, if any."""
    (select,) = _core("KSamplerSelect")(ctx, sampler_name=name)
    custom = _core("SamplerCustom")
    outs, denoised, states = [], [], []
    standard = settings.sampler_mode == "standard"
    for b in range(samples.shape[0]):
        item = {"samples": samples[b:b + 1]}
        if mask is not None:  # each item gets the whole mask, as in the pack
            item["noise_mask"] = mask
        kept: list[res.ResState] = []
        item_settings = dataclasses.replace(settings, keep_state=kept.append,
                                            resume=resume[b] if resume is not None else None,
                                            schedule=None if standard else run_sigmas.double())
        schedule = run_sigmas.float()
        out, den = custom(ctx, model=model, add_noise=True, noise_seed=seed, cfg=cfg, positive=positive,
                          negative=negative, sampler=ClownRun(select, seed + b, item_settings, noise_scale),
                          sigmas=schedule,
                          latent_image=item)
        outs.append(out["samples"])
        denoised.append(den["samples"])
        states.append(kept[-1] if kept else (resume[b] if resume is not None else None))
    output = {"samples": torch.cat(outs)}
    den_out = {"samples": torch.cat(denoised)}
    if mask is not None:
        output["noise_mask"] = den_out["noise_mask"] = mask
    if all(state is not None for state in states):
        output["state_info"] = states
    output.update(model=model, positive=positive, negative=negative)
    return output, den_out


@executor("ClownsharKSampler_Beta")
def clownshark_sampler(ctx: ExecContext, eta: Any, sampler_name: Any, scheduler: Any, steps: Any, steps_to_run: Any,
                       denoise: Any, cfg: Any, seed: Any, sampler_mode: Any, bongmath: Any, model: Any = None,
                       positive: Any = None, negative: Any = None, latent_image: Any = None, sigmas: Any = None,
                       guides: Any = None, options: Any = None, **rest: Any) -> tuple:
    options = merge_options(options, rest)
    if sampler_mode not in SAMPLER_MODES:
        raise NodeInputError("sampler_mode", f"unknown sampler_mode {sampler_mode!r}",
                             f"use one of {', '.join(SAMPLER_MODES)}")
    if sigmas is not None and (not isinstance(sigmas, torch.Tensor) or sigmas.dim() != 1 or len(sigmas) < 2):
        raise NodeInputError("sigmas", f"expected SIGMAS of at least 2 values, got {sigmas!r:.80}",
                             "connect a schedule")
    model, positive, negative = _chained(latent_image, model, positive, negative)
    _check_inputs(model, positive, negative, latent_image, guides)
    name = rk_type(sampler_name)
    if scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}", f"use one of {', '.join(ks.SCHEDULER_NAMES)}")
    denoise = _number("denoise", denoise)
    if denoise <= 0:
        raise NodeInputError("denoise", f"denoise {denoise} is not supported in wfrun (negative: the pack's sigma "
                             "scaling, not ported; 0: the pack's schedule is empty and the node fails)",
                             "use a denoise above 0")
    for label, value in (("steps", steps), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise NodeInputError(label, f"expected a whole number, got {value!r}")
    settings, cfg, written, shark = _settings(eta, cfg, bongmath, steps_to_run, seed, options, sampler_mode)

    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    if sigmas is not None:  # the pack scales a given schedule by denoise (its steps and scheduler unused)
        run_sigmas = sigmas.detach().to(device="cpu", dtype=settings.dtype) * denoise
    else:
        try:
            run_sigmas = ks.ksampler_sigmas(ms, scheduler, int(steps), denoise, sampler_name=name)
        except ks.SchedulerStepsError as err:
            raise NodeInputError("steps", str(err), "use more steps or another scheduler") from None
    check_swap(shark.swap, name, len(run_sigmas))
    states = None
    if sampler_mode != "standard":
        run_sigmas = mode_sigmas(run_sigmas.double(), sampler_mode)
        _check_mode_run(latent_image, run_sigmas, seed)
        if "state_info" in latent_image:
            states = _resume_states(latent_image, None)
    output, den_out = _run(ctx, name, settings, seed, cfg, model, positive, negative, latent_image["samples"],
                           latent_image.get("noise_mask"), run_sigmas, states, shark.noise_scale)
    return output, den_out, written


#: ``sampler_mode`` values of ClownsharKSampler_Beta (all run; see the module docs).
SAMPLER_MODES = ("unsample", "standard", "resample")


def _check_mode_run(latent_image: dict, run_sigmas: torch.Tensor, seed: int) -> None:
    """What wfrun refuses in "resample"/"unsample" mode (the pack's global-seed noise; a
    latent carrying a state is replaced by the state's, so its noising does not count)."""
    if "noise_mask" in latent_image:
        raise NodeInputError("latent_image", "a noise mask in resample/unsample mode is not supported in wfrun (the "
                             "pack's masked noise there may come from torch's global seed)", "remove the mask")
    if run_sigmas[0] != 0 and seed == -1 and "state_info" not in latent_image:
        raise NodeInputError("sigmas", "an unsample schedule that does not end at 0 makes the pack noise the "
                             "latent first, with noise from torch's global seed when seed is -1; not supported "
                             "in wfrun", "end the schedule at 0 or set a seed")


def _resume_states(latent_image: dict, sigmas: Any) -> list[res.ResState]:
    """The per-item states a chained latent carries, checked against its samples."""
    states = latent_image.get("state_info")
    samples = latent_image["samples"]
    if not isinstance(states, list) or not all(isinstance(s, res.ResState) for s in states):
        raise NodeInputError("latent_image", "ClownsharkChainsampler_Beta continues the run of another RES4LYF "
                             "sampler, but this latent carries none (the pack fails on its missing state_info)",
                             "connect the output of a ClownsharKSampler_Beta or ClownsharkChainsampler_Beta")
    if len(states) != samples.shape[0] or any(s.raw_x.shape[1:] != samples.shape[1:] for s in states):
        raise NodeInputError("latent_image", "the latent was resized or re-batched since its sampler stopped "
                             f"({list(samples.shape)} against {list(states[0].raw_x.shape[1:])}); the pack's "
                             "re-noising of a resized latent is not supported in wfrun",
                             "chain the sampler's output directly")
    if "noise_mask" in latent_image:
        raise NodeInputError("latent_image", "a noise mask on a chained latent is not supported in wfrun (the pack "
                             "draws its masked noise from torch's global seed)", "remove the mask")
    if sigmas is not None and any(s.end_step == 0 for s in states):
        raise NodeInputError("sigmas", "new sigmas for a run that has not taken a step yet are not supported in "
                             "wfrun", "disconnect sigmas, or let the first sampler run a step")
    return states


@executor("ClownsharkChainsampler_Beta")
def clownshark_chainsampler(ctx: ExecContext, eta: Any, sampler_name: Any, steps_to_run: Any, cfg: Any,
                            sampler_mode: Any, bongmath: Any, model: Any = None, positive: Any = None,
                            negative: Any = None, sigmas: Any = None, latent_image: Any = None, guides: Any = None,
                            options: Any = None, sampler: Any = None, **rest: Any) -> tuple:
    """RES4LYF's chained sampler: continue the run a latent carries (module docs)."""
    options = merge_options(options, rest)
    if sampler_mode not in ("unsample", "resample"):
        raise NodeInputError("sampler_mode", f"unknown sampler_mode {sampler_mode!r}", "use resample or unsample")
    if sampler is not None:
        raise NodeInputError("sampler", "a SAMPLER input on ClownsharkChainsampler_Beta (its 2025-03 form) is not "
                             "supported in wfrun", "disconnect sampler; pick the sampler by sampler_name")
    model, positive, negative = _chained(latent_image, model, positive, negative)
    _check_inputs(model, positive, negative, latent_image, guides)
    states = _resume_states(latent_image, sigmas)
    name = rk_type(sampler_name)
    settings, cfg, written, shark = _settings(eta, cfg, bongmath, steps_to_run, -1, options, sampler_mode)
    check_swap(shark.swap, name, len(states[0].sigmas))
    if sigmas is not None and (not isinstance(sigmas, torch.Tensor) or sigmas.dim() != 1 or len(sigmas) < 2):
        raise NodeInputError("sigmas", f"expected SIGMAS of at least 2 values, got {sigmas!r:.80}",
                             "connect a schedule")
    # the pack: the stored schedule unless sigmas are connected; reversed when resampling
    # what was unsampled (stored rising)
    schedule = states[0].sigmas if sigmas is None else sigmas.detach().to("cpu")
    schedule = schedule.double()
    if (len(schedule) > 2 and schedule[1] < schedule[2] and states[0].sampler_mode == "unsample"
            and sampler_mode == "resample"):
        schedule = torch.flip(schedule, dims=[0])
    run_sigmas = mode_sigmas(schedule, sampler_mode)
    _check_mode_run(latent_image, run_sigmas, -1)
    output, den_out = _run(ctx, name, settings, -1, cfg, model, positive, negative, latent_image["samples"], None,
                           run_sigmas, states)
    return output, den_out, written
