"""KSampler and KSamplerAdvanced on a Wan MODEL (``nodes.common_ksampler`` in ComfyUI).

The sampling itself is :mod:`wfrun.sampling.ksampler` (ComfyUI's samplers, schedulers,
noise and CFG); this module gives it the model: :class:`.model_input.WanPredictor` for
the predictions, the MODEL's shift for the flow sigmas, its LoRA patches merged for this
pass only (:func:`wfrun.models.lora_files.merged`), and its post-CFG patches (CFGZeroStar,
SkipLayerGuidanceDiT) as ComfyUI's ``post_cfg`` functions, in the order they were added;
an EasyCache patch wraps the model's calls (:mod:`wfrun.sampling.ksampler.easycache`); a
MagCache patch skips the model's blocks (:class:`wfrun.sampling.magcache.CoreMagCache`); a
context-window patch splits the model's calls into windows and gives FreeNoise its starting
noise (:mod:`wfrun.sampling.ksampler.context_windows`; step caches are refused with it: their
state would mix the windows); an InfiniteTalk patch (WanInfiniteTalkToVideo) adds the audio
attention to the blocks, pins the first latent frames of every model input and, when
extending, puts them in front of the result (:mod:`wfrun.sampling.infinitetalk`; not with
context windows, and the transformer is not compiled automatically for its pass).

As ComfyUI: the LATENT holds raw latents (normalised in, de-normalised out by the model's
latent format); an all-zero latent is not normalised (an empty latent stays empty); noise
comes from ``seed`` on the CPU; a ``noise_mask`` keeps the masked-out part of the latent
(Wan 2.2 5B image-to-video keeps its first frame; SetLatentNoiseMask's mask is fitted to
the latent's frames and size as ComfyUI's ``reshape_mask`` does), and the result keeps the mask.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any, Callable, Iterator

import torch

from wfrun.models import placement, residency
from wfrun.models.compile import compile_transformer
from wfrun.models.header import CheckpointError
from wfrun.models.lora_files import LoraError, lora_paths, merged
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.latent_nodes import reshape_mask
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.packs.comfy_core_models.model_patches import check_model
from wfrun.packs.comfy_core_models.types import CfgZeroStar, CoreModel, SkipLayers
from wfrun.sampling import ksampler as ks
from wfrun.sampling.conditioning import SLGArgs, TeaCacheArgs
from wfrun.sampling.forward import NativeTeaCache, TeaCache
from wfrun.sampling.hooks import sampling_pass
from wfrun.sampling.infinitetalk import InfiniteTalkError, audio_attention
from wfrun.sampling.ksampler import context_windows as ctxwin
from wfrun.sampling.ksampler.noise import MAX_SEED, SeedOverflowError
from wfrun.sampling.ksampler.easycache import EasyCache
from wfrun.sampling.magcache import CoreMagCache
from wfrun.sampling.nag import NAGGuidance


log = logging.getLogger(__name__)

SAMPLER_OOM_HINT = "load the model with weight_dtype fp8_e4m3fn, or make fewer frames or a smaller size"


def cfg_zero_star_hook(args: dict) -> torch.Tensor:
    """CFGZeroStar's post-CFG function: ``alpha`` projects ``x - uncond`` onto ``x - cond``."""
    x, cond, uncond, out = args["input"], args["cond_denoised"], args["uncond_denoised"], args["denoised"]
    positive = (x - cond).reshape(x.shape[0], -1)
    negative = (x - uncond).reshape(x.shape[0], -1)
    alpha = (positive * negative).sum(dim=1, keepdim=True) / ((negative ** 2).sum(dim=1, keepdim=True) + 1e-8)
    alpha = alpha.reshape([x.shape[0]] + [1] * (x.ndim - 1))
    scale = args["cond_scale"]
    return out + uncond * (alpha - 1.0) + scale * uncond * (1.0 - alpha)


def skip_layer_hook(patch: SkipLayers, ms: ks.FlowSampling) -> Callable[[dict], torch.Tensor]:
    """SkipLayerGuidanceDiT's post-CFG function: inside its sigma window, push the result
    away from a cond pass without ``patch.layers`` by ``scale``, optionally rescaled."""
    sigma_start = ms.percent_to_sigma(patch.start_percent)
    sigma_end = ms.percent_to_sigma(patch.end_percent)

    def hook(args: dict) -> torch.Tensor:
        result = args["denoised"]
        sigma = float(args["sigma"].reshape(-1)[0])
        if patch.scale > 0 and sigma_end <= sigma <= sigma_start:
            cond = args["cond_denoised"]
            skipped = args["calc_denoised"](("skip", patch.layers))
            result = result + (cond - skipped) * patch.scale
            if patch.rescaling_scale != 0:
                factor = cond.std() / result.std()
                result = result * (patch.rescaling_scale * factor + (1 - patch.rescaling_scale))
        return result

    return hook


def post_cfg_hooks(model: CoreModel, ms: ks.FlowSampling) -> tuple:
    hooks = []
    for patch in model.post_cfg:
        if isinstance(patch, CfgZeroStar):
            hooks.append(cfg_zero_star_hook)
        elif isinstance(patch, SkipLayers):
            hooks.append(skip_layer_hook(patch, ms))
    return tuple(hooks)


def _latent(latent_image: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not isinstance(latent_image, dict) or not isinstance(latent_image.get("samples"), torch.Tensor):
        raise NodeInputError("latent_image", f"expected a LATENT, got {type(latent_image).__name__}",
                             "connect an EmptyHunyuanLatentVideo or a Wan …ToVideo node's latent")
    return latent_image["samples"], latent_image.get("noise_mask")


def fix_empty_latent(samples: torch.Tensor, model: CoreModel, downscale_ratio: Any = None) -> torch.Tensor:
    """ComfyUI's ``fix_empty_latent_channels``: an all-zero latent made for another model
    (EmptyLatentImage's 4-channel image latent, say) gets the model's channel count and, when
    its node said at what spatial ratio it was made (``downscale_ratio_spacial``), the
    model's size (Wan 2.2 5B's latents are 1/16, the others' 1/8); an image latent (4 axes)
    becomes one latent frame. A latent with content is left as it is."""
    if torch.count_nonzero(samples) == 0 and samples.ndim in (4, 5):
        shape = list(samples.shape)
        shape[1] = model.latent_channels
        if isinstance(downscale_ratio, (int, float)) and not isinstance(downscale_ratio, bool) and downscale_ratio > 0:
            ratio = downscale_ratio / latent_format(model.latent_channels).spatial_downscale
            shape[-2], shape[-1] = max(1, round(shape[-2] * ratio)), max(1, round(shape[-1] * ratio))
        samples = samples.new_zeros(shape)
    return samples.unsqueeze(2) if samples.ndim == 4 else samples


def _check_names(sampler_name: str, scheduler: str | None, sampler_input: str = "sampler_name") -> None:
    if sampler_name not in ks.SAMPLER_NAMES:
        raise NodeInputError(sampler_input, f"unknown sampler {sampler_name!r}")
    try:
        ks.check_sampler(sampler_name)
    except ks.SamplerNotAvailableError as err:
        raise NodeInputError(sampler_input, str(err), "pick another sampler (euler, uni_pc, dpmpp_2m…)") from None
    if scheduler is not None and scheduler not in ks.SCHEDULER_NAMES:
        raise NodeInputError("scheduler", f"unknown scheduler {scheduler!r}", f"use one of {', '.join(ks.SCHEDULER_NAMES)}")


def run_sampler(ctx: ExecContext, model: Any, positive: Any, negative: Any, latent_image: Any, *, seed: int,
                steps: int, cfg: float, sampler_name: str, scheduler: str | None,
                sigmas_for: Callable[[ks.FlowSampling], torch.Tensor], add_noise: bool = True,
                x0_out: dict | None = None, sampler_input: str = "sampler_name",
                wrap_denoiser: Callable[[Any, torch.Tensor], Any] | None = None,
                nag: NAGGuidance | None = None,
                start_noise: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
                sampler_options: Any = None) -> dict:
    """``common_ksampler``: noise, sigmas, the patched model's pass, the LATENT out.

    ``scheduler`` None: the sigmas come ready (SamplerCustom); ``x0_out``, when given, gets
    under ``"x0"`` the last step's x0 prediction, out of the model's latent space (ComfyUI's
    ``denoised_output``); ``wrap_denoiser(denoiser, sigmas)``, when given, replaces the CFG
    denoiser the sampler calls (SAMPLER wrappers such as Detail Daemon); ``nag``, when given,
    guides the positive passes with Normalized Attention Guidance (ComfyUI-NAG's samplers);
    ``start_noise(latent, seed)`` and ``sampler_options``, when given, replace the seed's
    starting noise and the named sampler's own settings (a SAMPLER wrapper's, e.g. RES4LYF's
    ClownsharKSampler)."""
    model = check_model(model)
    _check_names(sampler_name, scheduler, sampler_input)
    samples, noise_mask = _latent(latent_image)
    samples = fix_empty_latent(samples, model, latent_image.get("downscale_ratio_spacial"))
    if samples.ndim != 5 or samples.shape[1] != model.latent_channels:
        raise NodeInputError("latent_image", f"latent of shape {tuple(samples.shape)} does not fit "
                             f"{model.path.name} ({model.latent_channels} latent channels)")
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    try:
        sigmas = sigmas_for(ms)
    except ks.SchedulerStepsError as err:
        raise NodeInputError("steps", str(err), "use more steps or another scheduler") from None
    samples = samples.float()
    if start_noise is not None and add_noise:
        noise = start_noise(samples, int(seed))
    else:
        noise = ks.prepare_noise(samples, int(seed), batch_index=latent_image.get("batch_index"),
                                 disable_noise=not add_noise)
    windows = context_window_settings(model, samples)
    talk = model.infinitetalk
    if talk is not None and windows is not None:
        raise NodeInputError("model", "context windows with InfiniteTalk (WanInfiniteTalkToVideo) are not supported: "
                             "its audio covers the node's whole length", "remove the context window node")
    if talk is not None and samples.shape[2] != talk.audio.shape[1]:
        raise NodeInputError("latent_image", f"a latent of {samples.shape[2]} frames; the model's InfiniteTalk audio "
                             f"covers {talk.audio.shape[1]}", "feed the sampler the latent of the same "
                             "WanInfiniteTalkToVideo node")
    if windows is not None and windows.freenoise:
        try:
            noise = ctxwin.freenoise(noise, windows, int(seed))
        except ctxwin.ContextWindowError as err:
            raise NodeInputError("model", f"context windows: {err}") from None
    mask = None
    if noise_mask is not None:
        if not isinstance(noise_mask, torch.Tensor) or noise_mask.ndim < 2 or noise_mask.numel() == 0:
            raise NodeInputError("latent_image", "the latent's noise_mask is not a mask tensor",
                                 "set it with SetLatentNoiseMask or a Wan …ToVideo node")
        mask = reshape_mask(noise_mask, samples.shape)  # ComfyUI's prepare_mask: trilinear to [B, C, T, h, w]
    transformer = model.transformer
    device = ctx.device
    swap = model.block_swap if torch.device(device).type == "cuda" else None
    if swap is None:
        residency.bring(transformer, device, ctx.offload_device)  # stays after the pass, as in ComfyUI
    if talk is not None:  # ComfyUI loads the patch with the model
        residency.bring(talk.module, device, ctx.offload_device)
    bar = ctx.progress.steps(max(len(sigmas) - 1, 0), "KSampler") if ctx.progress is not None else None

    def callback(step: int, total: int) -> None:
        ctx.check_interrupt()
        if bar is not None:
            bar.update(1)

    try:
        if nag is not None and model.nag is not None:
            raise NodeInputError("model", "NAG on the model (WanVideoNAG) and in the sampler (KSamplerWithNAG)",
                                 "keep one of the two")
        predictor = WanPredictor(model, positive, negative, device, denoise_mask=None if mask is None else mask.to(device),
                                 sigmas=sigmas, nag=nag if nag is not None else model.nag, ms=ms)
        cache = step_cache(model, sigmas, cfg, ctx.offload_device)
        if isinstance(cache, CoreMagCache):  # it needs to know each call's prompt
            if predictor.most_entries > 1:
                raise NodeInputError("positive", "MagCache with combined conditionings (several model calls per "
                                     "prompt and step) is not supported by wfrun",
                                     "remove ConditioningCombine or the MagCache node")
            predictor = cache.wrap(predictor)
        if model.easycache is not None:  # ComfyUI's native EasyCache, fresh for this run
            predictor = EasyCache(predictor, model.easycache, ms)
        if windows is not None:
            predictor = ctxwin.WindowedPredictor(predictor, windows, sigmas, model.multiplier)
        skips = {p.layers for p in model.post_cfg if isinstance(p, SkipLayers)}
        if len(skips) > 1:
            raise NodeInputError("model", "several SkipLayerGuidanceDiT patches with different layers",
                                 "chain one SkipLayerGuidanceDiT")
        if skips and model.uncond_skip is not None:
            raise NodeInputError("model", "SkipLayerGuidanceDiT and SkipLayerGuidanceWanVideo on one model",
                                 "keep one of the two skip-layer patches")
        slg = SLGArgs(blocks=skips.pop(), start_percent=0.0, end_percent=1.0) if skips else None
        if model.uncond_skip is not None:
            blocks, start, end = model.uncond_skip
            slg = SLGArgs(blocks=blocks, start_percent=start, end_percent=end)
        if model.uncond_skip_sigmas is not None:  # SkipLayerGuidanceDiTSimple: the predictor marks the window
            if slg is not None:
                raise NodeInputError("model", "SkipLayerGuidanceDiTSimple with another skip-layer patch "
                                     "(SkipLayerGuidanceDiT or SkipLayerGuidanceWanVideo) on one model",
                                     "keep one of the skip-layer patches")
            slg = SLGArgs(blocks=model.uncond_skip_sigmas[0], start_percent=0.0, end_percent=1.0)
        fmt = latent_format(model.latent_channels)
        on_step = None
        if x0_out is not None:
            def on_step(info: dict) -> None:
                x0_out["x0"] = info["denoised"]
        compiled_for(model, device)
        with merged(transformer, lora_paths(model.loras), keep=swap is None), \
                placement.swapped(transformer, device, ctx.offload_device, swap), \
                sampling_pass(transformer, slg=slg, attention=model.attention, teacache=cache,
                              ffn_chunks=model.ffn_chunks, forwards=None if isinstance(predictor, EasyCache) or talk is not None else
                              (len(sigmas) - 1) * (1 if float(cfg) == 1.0 else 2)), \
                audio_attention(transformer, talk), \
                fp16_accumulation(model.fp16_accumulation), torch.no_grad():
            cfg_function = model.cfg_function(sigmas) if model.cfg_function is not None else None
            denoiser = ks.cfg_denoiser(predictor, float(cfg), ms, post_cfg=post_cfg_hooks(model, ms),
                                       cfg_function=cfg_function,
                                       model_input=talk.model_input(fmt.process_in) if talk is not None else None)
            if wrap_denoiser is not None:
                denoiser = wrap_denoiser(denoiser, sigmas)
            out = ks.sample(denoiser, samples.to(device), noise.to(device), sigmas, sampler_name, seed=int(seed), ms=ms,
                            callback=callback, disable_noise=not add_noise,
                            denoise_mask=None if mask is None else mask.to(device),
                            latent_format=fmt, noisy_inpaint=not model.per_frame_timesteps, on_step=on_step,
                            sampler_options=sampler_options)
            if talk is not None:
                out = talk.finish(out)
            if isinstance(predictor, EasyCache):
                log.info(predictor.summary())
            if isinstance(cache, CoreMagCache):
                log.info(cache.summary())
            if x0_out is not None and "x0" in x0_out:
                x0_out["x0"] = fmt.process_out(x0_out["x0"].float()).cpu()
    except (LoraError, CheckpointError, InfiniteTalkError) as err:
        raise NodeInputError("model", str(err)) from None
    except SeedOverflowError as err:
        raise NodeInputError("seed", str(err), f"use a seed below {MAX_SEED}, or a sampler without step noise") \
            from None
    except ctxwin.ContextWindowError as err:
        raise NodeInputError("model", f"context windows: {err}", "change the context window node's settings") from None
    finally:
        if bar is not None:
            bar.close()
        if swap is not None:  # its resident part stays, for the next model brought in to send back
            residency.track(transformer, device, ctx.offload_device)
    result = dict(latent_image)
    result["samples"] = out.float().cpu()
    return result


def context_window_settings(model: CoreModel, samples: torch.Tensor) -> ctxwin.ContextWindowSettings | None:
    """The MODEL's context windows, refused where wfrun cannot run them: with a step cache
    (TeaCache, MagCache, EasyCache keep one state per prompt, not per window), or over a
    latent dimension other than the frames where they would split it."""
    settings = model.context_windows
    if settings is None:
        return None
    if model.teacache is not None or model.magcache is not None or model.easycache is not None:
        raise NodeInputError("model", "context windows with a step cache (TeaCache, MagCache or EasyCache) on one "
                             "model are not supported by wfrun", "remove the cache node or the context window node")
    if settings.dim != 2 and (settings.dim >= samples.ndim or samples.shape[settings.dim] > settings.length):
        raise NodeInputError("model", f"context windows over latent dimension {settings.dim}: wfrun windows a Wan "
                             "latent over its frames only", "set dim to 2, or use WanContextWindowsManual")
    return settings


def step_cache(model: CoreModel, sigmas: torch.Tensor, cfg: float = 1.0,
               offload_device: Any = "cpu") -> TeaCache | CoreMagCache | None:
    """A fresh step cache for this run: MagCache's (its residuals on the offload device, as
    the pack keeps them; the negative prompt runs unless cfg is 1.0), or a TeaCache from the
    MODEL's KJNodes settings: its percent window as step indices (step i is active when
    start <= i / (len(sigmas) - 1) <= end); welltop-cn's TeaCache node (``native``) tracks its
    state on every step and may weight the projected embedding (``mode`` e0, its ret_mode)."""
    if model.magcache is not None:
        if model.teacache is not None:
            raise NodeInputError("model", "MagCache and WanVideoTeaCacheKJ on one model", "keep one of the two")
        return CoreMagCache(model.magcache, sigmas, not math.isclose(float(cfg), 1.0), offload_device)
    settings = model.teacache
    if settings is None or len(sigmas) < 2:
        return None
    n = len(sigmas) - 1
    start = math.ceil(settings["start_percent"] * n - 1e-9)
    end = math.floor(settings["end_percent"] * n + 1e-9)
    use = settings["coefficients"] is not None
    mode = settings.get("mode") or ("e" if use else "e0")
    args = TeaCacheArgs(rel_l1_thresh=settings["rel_l1_thresh"], start_step=start, end_step=end,
                        cache_device=str(settings["cache_device"]), use_coefficients=use, mode=mode)
    kind = NativeTeaCache if settings.get("native") else TeaCache
    cache = kind.create(args, n, settings["coefficients"] or "14B", settings["cache_device"])
    return cache


def compiled_for(model: CoreModel, device: Any) -> None:
    """Apply the MODEL's torch.compile settings (TorchCompileModelWanVideoV2) on CUDA, once
    per transformer (``models.compile``); on the CPU the model runs eagerly, with a notice."""
    if model.compile is not None:
        compile_transformer(model.transformer, device, **model.compile)


@contextlib.contextmanager
def fp16_accumulation(enabled: bool) -> Iterator[None]:
    """fp16 matmul accumulation (ModelPatchTorchSettings) while the model samples, where the
    torch build has the switch."""
    matmul = torch.backends.cuda.matmul
    if not enabled or not hasattr(matmul, "allow_fp16_accumulation"):
        yield
        return
    before = matmul.allow_fp16_accumulation
    matmul.allow_fp16_accumulation = True
    try:
        yield
    finally:
        matmul.allow_fp16_accumulation = before


def _nag(nag: Any) -> NAGGuidance | None:
    """The NAG a calling sampler (ComfyUI-NAG's KSamplerWithNAG) hands the core executors;
    never a workflow input."""
    if nag is not None and not isinstance(nag, NAGGuidance):
        raise NodeInputError("nag", f"expected NAG settings, got {type(nag).__name__}")
    return nag


@executor("KSampler", oom_hint=SAMPLER_OOM_HINT)
def ksampler(ctx: ExecContext, model: CoreModel, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
             positive: Any, negative: Any, latent_image: dict, denoise: float, nag: Any = None, **_: Any) -> tuple:
    """KSampler; ``nag`` (not a widget: ComfyUI-NAG's KSamplerWithNAG passes it) adds NAG."""
    return (run_sampler(ctx, model, positive, negative, latent_image, seed=seed, steps=steps, cfg=cfg,
                        sampler_name=sampler_name, scheduler=scheduler, nag=_nag(nag),
                        sigmas_for=lambda ms: ks.ksampler_sigmas(ms, scheduler, int(steps), float(denoise),
                                                                 sampler_name=sampler_name)),)


@executor("KSamplerAdvanced", oom_hint=SAMPLER_OOM_HINT)
def ksampler_advanced(ctx: ExecContext, model: CoreModel, add_noise: str, noise_seed: int, steps: int, cfg: float,
                      sampler_name: str, scheduler: str, positive: Any, negative: Any, latent_image: dict,
                      start_at_step: int, end_at_step: int, return_with_leftover_noise: str, nag: Any = None,
                      **_: Any) -> tuple:
    """KSamplerAdvanced; ``nag`` (not a widget: KSamplerWithNAG (Advanced) passes it) adds NAG."""
    for name, value in (("add_noise", add_noise), ("return_with_leftover_noise", return_with_leftover_noise)):
        if value not in ("enable", "disable"):
            raise NodeInputError(name, f"{value!r} is not enable or disable")
    force_full_denoise = return_with_leftover_noise != "enable"
    return (run_sampler(ctx, model, positive, negative, latent_image, seed=noise_seed, steps=steps, cfg=cfg,
                        sampler_name=sampler_name, scheduler=scheduler, add_noise=add_noise == "enable", nag=_nag(nag),
                        sigmas_for=lambda ms: ks.advanced_sigmas(ms, scheduler, int(steps), int(start_at_step),
                                                                 int(end_at_step), force_full_denoise,
                                                                 sampler_name=sampler_name)),)
