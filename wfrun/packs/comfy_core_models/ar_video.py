"""ComfyUI's autoregressive video nodes (``comfy_extras/nodes_ar_video.py``) for Causal
Forcing / Self-Forcing models: EmptyARVideoLatent, ARVideoI2V and SamplerARVideo, and the
``ar_video`` sampler they feed (:mod:`wfrun.sampling.ar_video`) as SamplerCustom(Advanced)
runs it.

- **EmptyARVideoLatent** gives zeros ``[batch, 16, (length - 1) // 4 + 1, height // 8,
  width // 8]`` (16 channels and the 8-pixel stride are written in the node, whatever VAE).
- **ARVideoI2V** resizes the first start image to ``width`` x ``height`` (bilinear, centre
  crop), encodes it with the VAE and keeps its raw latents on the MODEL it returns
  (ComfyUI's ``transformer_options["ar_config"]["initial_latent"]``), with the same empty
  latent as EmptyARVideoLatent. Other samplers ignore the image, as ComfyUI's do.
- **SamplerARVideo** gives the SAMPLER :class:`ARVideoSampler` (``num_frame_per_block``).

The sampler runs as ComfyUI's ``KSAMPLER`` wraps ``sample_ar_video``: the starting noise
from the NOISE's seed on the CPU, scaled to the first sigma (``sigma * noise + (1 - sigma) *
latent``, the latent normalised unless all zeros), the loop in model space, the result
de-normalised; the SAMPLER's second output (``denoised_output``) is the last step's x0 of
the last block only, as ComfyUI's preview callback keeps it. The model is called with
``timestep = sigma * 1000`` and its x0 is ``x - sigma * v`` (float32).

What ComfyUI itself cannot run is refused here by name instead: a model that is not
Causal-WAN (ComfyUI raises: no KV cache), a CFG other than 1 (ComfyUI batches the negative
with the positive into one call, which a cache of the latent's batch cannot take), several
or timestep-ranged conditionings (each would write the cache again), a noise mask, sigmas
that do not end at 0 (ComfyUI's loop then moves the cache end back twice per block and
overwrites the previous frames' keys), a start image with a batch above 1 (ComfyUI's first
call fails). Model patches the loop has no place for (step caches, context windows, NAG,
skip-layer guidance, RoPE changes, …) are refused; LoRAs are merged for the run, block swap
and the attention backend apply; torch.compile is not used for this loop.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.models import placement, residency
from wfrun.models.families import transformer_family
from wfrun.models.header import CheckpointError
from wfrun.models.lora_files import LoraError, lora_paths, merged
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.ksampler_nodes import fix_empty_latent, fp16_accumulation
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.model_input import conditioning_entries, pad_to_patches
from wfrun.packs.comfy_core_models.model_patches import check_model
from wfrun.packs.comfy_core_models.types import CoreModel
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images
from wfrun.sampling import ksampler as ks
from wfrun.sampling.ar_video import ARCaches, causal_attention, causal_forward, sample_ar_video
from wfrun.sampling.hooks import sampling_pass

log = logging.getLogger(__name__)

#: The latent ComfyUI's AR nodes make: 16 channels at 1/8 of the pixels, whatever VAE.
AR_LATENT_CHANNELS, AR_LATENT_STRIDE = 16, 8

#: Conditioning keys the causal model reads or ignores as ComfyUI does (a text-only model:
#: no CLIP projection reads ``clip_vision_output``); any other key is refused.
_PLAIN_KEYS = {"pooled_output", "clip_vision_output"}

#: CoreModel patches the AR loop has no place for, and what they are called.
_UNSUPPORTED_PATCHES = {"teacache": "TeaCache", "easycache": "EasyCache", "magcache": "MagCache",
                        "feta": "Enhance-A-Video", "uncond_skip": "SkipLayerGuidanceWanVideo",
                        "uncond_skip_sigmas": "SkipLayerGuidanceDiTSimple", "cfg_function": "a CFG function patch",
                        "nag": "NAG", "riflex": "RIFLEx", "rope_scale": "ScaleROPE",
                        "context_windows": "context windows", "infinitetalk": "InfiniteTalk",
                        "post_cfg": "a post-CFG patch (CFGZeroStar, SkipLayerGuidanceDiT)"}


@dataclass(frozen=True)
class ARVideoSampler:
    """SAMPLER of SamplerARVideo: ComfyUI's ``ksampler("ar_video", {"num_frame_per_block": n})``."""

    num_frame_per_block: int


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise NodeInputError(name, f"{name}: expected a whole number of at least {low}, found {value!r}")
    return int(value)


def ar_empty_latent(width: Any, height: Any, length: Any, batch_size: Any) -> dict:
    width, height = _int("width", width, 16), _int("height", height, 16)
    length, batch = _int("length", length, 1), _int("batch_size", batch_size, 1)
    frames = (length - 1) // 4 + 1
    return {"samples": torch.zeros(batch, AR_LATENT_CHANNELS, frames, height // AR_LATENT_STRIDE,
                                   width // AR_LATENT_STRIDE)}


@executor("EmptyARVideoLatent")
def empty_ar_video_latent(ctx: ExecContext, width: Any, height: Any, length: Any, batch_size: Any, **_: Any) -> tuple:
    return (ar_empty_latent(width, height, length, batch_size),)


@executor("ARVideoI2V")
def ar_video_i2v(ctx: ExecContext, model: Any, vae: Any, start_image: Any, width: Any, height: Any, length: Any,
                 batch_size: Any, **_: Any) -> tuple:
    model, vae = check_model(model), check_vae(vae)
    if not isinstance(start_image, torch.Tensor) or start_image.ndim != 4 or start_image.shape[0] == 0:
        raise NodeInputError("start_image", "expected an IMAGE [frames, height, width, channels]")
    latent = ar_empty_latent(width, height, length, batch_size)
    image = upscale_image(start_image[:1].float(), int(width), int(height), "bilinear", "center")
    initial = encode_images(ctx, vae, image[..., :3])
    return (model.patched(ar_initial_latent=initial), latent)


@executor("SamplerARVideo")
def sampler_ar_video(ctx: ExecContext, num_frame_per_block: Any, **_: Any) -> tuple:
    return (ARVideoSampler(_int("num_frame_per_block", num_frame_per_block, 1)),)


def is_causal(model: CoreModel) -> bool:
    family = transformer_family(model.task)
    return family is not None and "causal_ar" in family.parts


def _check_run(model: CoreModel, positive: Any, cfg: float, sigmas: torch.Tensor, wrappers: list) -> torch.Tensor:
    """The positive prompt's text, after refusing what ComfyUI's loop cannot run."""
    if wrappers:
        raise NodeInputError("sampler", f"{type(wrappers[0]).__name__} around SamplerARVideo is not supported",
                             "connect SamplerARVideo to the sampler directly")
    if not is_causal(model):
        family = transformer_family(model.task)
        raise NodeInputError("sampler", f"the ar_video sampler (SamplerARVideo) needs a Causal-WAN model with a KV "
                             f"cache; {model.path.name} is {family.label if family else model.task}",
                             "load a Causal Forcing checkpoint, or use another sampler (KSamplerSelect)")
    if not math.isclose(float(cfg), 1.0):
        raise NodeInputError("cfg", f"cfg {cfg}: the ar_video sampler runs at CFG 1 only (ComfyUI batches the "
                             "negative pass into the cached call, which fails)", "set cfg to 1")
    for name, what in _UNSUPPORTED_PATCHES.items():
        value = getattr(model, name)
        if value not in (None, (), False):
            raise NodeInputError("model", f"{what} on the model is not supported with the ar_video sampler",
                                 "remove that patch node")
    if len(sigmas) < 2 or float(sigmas[-1]) != 0.0:
        raise NodeInputError("sigmas", f"{len(sigmas)} sigmas ending at {float(sigmas[-1]) if len(sigmas) else None}: "
                             "the ar_video sampler needs at least one step and sigmas that end at 0",
                             "connect the whole schedule (BasicScheduler), not a SplitSigmas part")
    entries = conditioning_entries(positive, "positive")
    if len(entries) != 1 or entries[0].start is not None or entries[0].end is not None:
        raise NodeInputError("positive", "the ar_video sampler takes one text conditioning (no ConditioningCombine, "
                             "no timestep range): each would write the KV cache again")
    extra = sorted(k for k, v in entries[0].options.items() if v is not None and k not in _PLAIN_KEYS)
    if extra:
        raise NodeInputError("positive", f"conditioning with {', '.join(extra)} is not read by the causal model's "
                             "ar_video sampler", "encode the prompt with CLIPTextEncode only")
    if entries[0].strength == 0:
        raise NodeInputError("positive", "a conditioning of strength 0 gives no prediction")
    return entries[0].tensor


def run_ar_video(ctx: ExecContext, model: Any, positive: Any, cfg: float, seed: int, add_noise: bool,
                 sampler: ARVideoSampler, wrappers: list, sigmas: torch.Tensor, latent_image: Any) -> tuple:
    """SamplerCustom(Advanced) with the ``ar_video`` SAMPLER: ``(output, denoised_output)``."""
    model = check_model(model)
    text = _check_run(model, positive, cfg, sigmas, wrappers)
    if not isinstance(latent_image, dict) or not isinstance(latent_image.get("samples"), torch.Tensor):
        raise NodeInputError("latent_image", "expected a LATENT", "connect ARVideoI2V's or EmptyARVideoLatent's latent")
    if latent_image.get("noise_mask") is not None:
        raise NodeInputError("latent_image", "a latent with a noise mask: the ar_video sampler has no inpainting",
                             "remove SetLatentNoiseMask")
    samples = fix_empty_latent(latent_image["samples"], model).float()
    if samples.ndim != 5 or samples.shape[1] != model.latent_channels:
        raise NodeInputError("latent_image", f"ar_video sampler needs 5-D video latents [B, C, T, H, W] of "
                             f"{model.latent_channels} channels, got {tuple(samples.shape)}")
    initial = model.ar_initial_latent
    batch = samples.shape[0]
    if initial is not None and batch != 1:
        raise NodeInputError("latent_image", f"a batch of {batch} with ARVideoI2V's start image: ComfyUI seeds the "
                             "cache with one image and fails on a larger batch", "set batch_size to 1")
    fmt = latent_format(model.latent_channels)
    noise = ks.prepare_noise(samples, int(seed), batch_index=latent_image.get("batch_index"),
                             disable_noise=not add_noise)
    latent_in = fmt.process_in(samples) if torch.count_nonzero(samples) > 0 else samples
    ms = ks.FlowSampling(shift=model.shift, multiplier=model.multiplier)
    sigmas = sigmas.float()
    x = ms.noise_scaling(sigmas[0], noise, latent_in)
    transformer, device = model.transformer, ctx.device
    patch = tuple(transformer.config.patch_size)
    height, width = samples.shape[-2:]
    frame_tokens = math.ceil(height / patch[1]) * math.ceil(width / patch[2])
    caches = ARCaches(len(transformer.blocks), samples.shape[2] * frame_tokens)
    context = text.to(device, model.dtype).expand(batch, -1, -1) if text.shape[0] == 1 else \
        text.to(device, model.dtype)

    def denoise(block: torch.Tensor, sigma: torch.Tensor, start: int) -> torch.Tensor:
        frames, h, w = block.shape[2:]
        hidden = pad_to_patches(block.float(), patch).to(device, model.dtype)
        t = (sigma.reshape(1).float() * model.multiplier).expand(block.shape[0]).to(device)
        v = causal_forward(transformer, hidden, t, context[:block.shape[0]], start).float()[:, :, :frames, :h, :w]
        return block.float() - sigma.to(device).float() * v

    swap = model.block_swap if torch.device(device).type == "cuda" else None
    if swap is None:
        residency.bring(transformer, device, ctx.offload_device)
    if model.compile is not None:
        log.info("the ar_video sampler runs the model eagerly (its KV-cached attention is not compiled)")
    steps = len(sigmas) - 1
    blocks = math.ceil((samples.shape[2] - (initial.shape[2] if initial is not None else 0))
                       / sampler.num_frame_per_block)
    bar = ctx.progress.steps(max(blocks * steps, 0), "SamplerARVideo") if ctx.progress is not None else None
    last: dict = {}

    def callback(info: dict) -> None:
        ctx.check_interrupt()
        last["x0"] = info["denoised"]
        if bar is not None:
            bar.update(1)

    try:
        with merged(transformer, lora_paths(model.loras), keep=swap is None), \
                placement.swapped(transformer, device, ctx.offload_device, swap), \
                sampling_pass(transformer, attention=model.attention, ffn_chunks=model.ffn_chunks), causal_attention(transformer, caches), \
                fp16_accumulation(model.fp16_accumulation), torch.no_grad():
            start = None if initial is None else fmt.process_in(initial.float()).to(device, model.dtype)
            out = sample_ar_video(denoise, x.to(device), sigmas.to(device), caches, seed=int(seed),
                                  num_frame_per_block=sampler.num_frame_per_block, frame_tokens=frame_tokens,
                                  initial_latent=start, callback=callback)
    except (LoraError, CheckpointError) as err:
        raise NodeInputError("model", str(err)) from None
    finally:
        if bar is not None:
            bar.close()
        if swap is not None:
            residency.track(transformer, device, ctx.offload_device)
    out = ms.inverse_noise_scaling(sigmas[-1].to(out.device), out)
    result = dict(latent_image)
    result["samples"] = fmt.process_out(out).float().cpu()
    denoised = dict(latent_image)
    denoised["samples"] = fmt.process_out(last["x0"].float()).cpu() if "x0" in last else result["samples"]
    return result, denoised
