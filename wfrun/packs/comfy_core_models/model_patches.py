"""Nodes that patch a MODEL: ModelSamplingSD3, ModelSamplingAuraFlow, EasyCache, CFGZeroStar, SkipLayerGuidanceDiT,
SkipLayerGuidanceDiTSimple, ScaleROPE, TorchCompileModel and
UNetTemporalAttentionMultiply. Each returns a new :class:`CoreModel`; the sampler applies
the patches (see ``types``).

ModelSamplingAuraFlow is ModelSamplingSD3 with multiplier 1 instead of 1000: the same
shifted sigmas, but the model is called with timestep ``sigma`` (0..1) rather than
``sigma * 1000``. ComfyUI does exactly that to a Wan model too (its Wan time embedding then
sees small timesteps); wfrun keeps it, as the workflow asks.

EasyCache (ComfyUI's native one, ``comfy_extras/nodes_easycache.py``) sets the MODEL's step
cache; the core samplers wrap the model's calls with it
(:class:`wfrun.sampling.ksampler.easycache.EasyCache`, where its rules and differences are).

UNetTemporalAttentionMultiply scales the output projections of modules named
``attn1``/``attn2`` (``.time_stack.`` ones as temporal) in ComfyUI's state dict. ComfyUI's
Wan model names them ``self_attn.o``/``cross_attn.o``, so on Wan the node matches nothing
and changes nothing; wfrun reproduces exactly that (the templates use it at 1.0 anyway).
SkipLayerGuidanceDiT on Wan skips its "double" blocks (Wan's only kind); ``single_layers``
name blocks Wan does not have and are ignored, as in ComfyUI, and so are block numbers
past the model's last block (ComfyUI's block-replace patch for them is never looked up).

ScaleROPE (ChronoEdit's template stretches time with ``scale_t`` 7) moves the rotary
positions of each axis: the ``i``-th patch of an axis sits at ``shift + i * scale`` (on top of
any start the model gives it), fractional positions included, as ComfyUI's Wan
``rope_encode`` reads its ``rope_options`` (``sampling.forward.rotary_embedding``). A later
ScaleROPE replaces an earlier one's values, as ComfyUI's ``set_model_rope_options`` does.

TorchCompileModel compiles the whole diffusion model with the chosen backend (ComfyUI's
``set_torch_compile_wrapper`` on ``diffusion_model``, its other settings torch's), once it
samples on CUDA (``models.compile``; on the CPU a notice and eager, as for KJNodes'
compile nodes).

SkipLayerGuidanceDiTSimple changes only the uncond pass: while the step's sigma is inside
``[percent_to_sigma(end_percent), percent_to_sigma(start_percent)]`` the negative prediction
is made without the listed blocks (each returns its input), and CFG then combines as usual.
The sigmas come from the MODEL's sampling at this node (its shift, set by a
ModelSamplingSD3 before it), as ComfyUI reads ``model_sampling`` when the node runs. With
cfg 1 the sampler makes no uncond pass and the node changes nothing, as in ComfyUI. wfrun
runs one skip-layer patch per model: this one with SkipLayerGuidanceDiT or KJNodes'
SkipLayerGuidanceWanVideo on the same model is refused by the sampler.
"""

from __future__ import annotations

import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.ksampler import FlowSampling
from wfrun.sampling.ksampler.easycache import EasyCacheSettings
from wfrun.packs.comfy_core_models.types import CfgZeroStar, CoreModel, SkipLayers


def check_model(model: Any) -> CoreModel:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL (UNETLoader), got {type(model).__name__}")
    return model


@executor("ModelSamplingSD3")
def model_sampling_sd3(ctx: ExecContext, model: CoreModel, shift: float, **_: Any) -> tuple:
    return (check_model(model).patched(shift=float(shift), multiplier=1000.0),)


@executor("ModelSamplingAuraFlow")
def model_sampling_aura_flow(ctx: ExecContext, model: CoreModel, shift: float, **_: Any) -> tuple:
    return (check_model(model).patched(shift=float(shift), multiplier=1.0),)


@executor("EasyCache")
def easy_cache(ctx: ExecContext, model: CoreModel, reuse_threshold: float, start_percent: float, end_percent: float,
               verbose: bool, **_: Any) -> tuple:
    settings = EasyCacheSettings(reuse_threshold=float(reuse_threshold), start_percent=float(start_percent),
                                 end_percent=float(end_percent), verbose=bool(verbose))
    return (check_model(model).patched(easycache=settings),)


@executor("CFGZeroStar")
def cfg_zero_star(ctx: ExecContext, model: CoreModel, **_: Any) -> tuple:
    model = check_model(model)
    return (model.patched(post_cfg=model.post_cfg + (CfgZeroStar(),)),)


@executor("ScaleROPE")
def scale_rope(ctx: ExecContext, model: CoreModel, scale_x: float, shift_x: float, scale_y: float, shift_y: float,
               scale_t: float, shift_t: float, **_: Any) -> tuple:
    values = {"scale_x": scale_x, "shift_x": shift_x, "scale_y": scale_y, "shift_y": shift_y, "scale_t": scale_t,
              "shift_t": shift_t}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise NodeInputError(name, f"{name} = {value!r} is not a number")
    return (check_model(model).patched(rope_scale=tuple(float(v) for v in values.values())),)


@executor("SkipLayerGuidanceDiT")
def skip_layer_guidance_dit(ctx: ExecContext, model: CoreModel, double_layers: str, single_layers: str, scale: float,
                            start_percent: float, end_percent: float, rescaling_scale: float, **_: Any) -> tuple:
    model = check_model(model)
    layers = tuple(int(n) for n in re.findall(r"\d+", str(double_layers or "")))
    singles = re.findall(r"\d+", str(single_layers or ""))
    if not layers and not singles:
        return (model,)
    patch = SkipLayers(layers=layers, scale=float(scale), start_percent=float(start_percent),
                       end_percent=float(end_percent), rescaling_scale=float(rescaling_scale))
    return (model.patched(post_cfg=model.post_cfg + (patch,)),)


@executor("SkipLayerGuidanceDiTSimple")
def skip_layer_guidance_dit_simple(ctx: ExecContext, model: CoreModel, double_layers: str, single_layers: str,
                                   start_percent: float, end_percent: float, **_: Any) -> tuple:
    model = check_model(model)
    layers = tuple(int(n) for n in re.findall(r"\d+", str(double_layers or "")))
    singles = re.findall(r"\d+", str(single_layers or ""))
    if not layers and not singles:
        return (model,)
    ms = FlowSampling(shift=model.shift, multiplier=model.multiplier)
    window = (layers, ms.percent_to_sigma(float(start_percent)), ms.percent_to_sigma(float(end_percent)))
    return (model.patched(uncond_skip_sigmas=window),)


@executor("UNetTemporalAttentionMultiply")
def unet_temporal_attention_multiply(ctx: ExecContext, model: CoreModel, **_: Any) -> tuple:
    return (check_model(model),)


@executor("TorchCompileModel")
def torch_compile_model(ctx: ExecContext, model: Any, backend: Any, **_: Any) -> tuple:
    import torch._dynamo

    if backend not in ("inductor", "cudagraphs"):
        raise NodeInputError("backend", f"unknown backend {backend!r}", "use inductor or cudagraphs")
    settings = {"backend": backend, "fullgraph": False, "mode": None, "dynamic": None, "blocks_only": False,
                "cache_size_limit": int(torch._dynamo.config.cache_size_limit)}
    return (check_model(model).patched(compile=settings),)
