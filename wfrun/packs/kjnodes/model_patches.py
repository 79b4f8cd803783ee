"""KJNodes' model patches for ComfyUI's MODEL, mapped to wfrun's own run-time choices.

They change how the core KSampler runs the model, never its weights, so each returns a
patched copy of the MODEL (the loaded transformer stays shared, as ComfyUI's
``ModelPatcher.clone``):

- ``PathchSageAttentionKJ``: SageAttention for the model's attention — diffusers' ``sage``
  backend, set for each sampling pass (``sampling.hooks.sampling_pass``). Every
  ``sageattn*`` variant maps to it (diffusers picks the kernel for the GPU); without the
  ``sageattention`` package or a CUDA device, a notice and PyTorch's SDPA, as the wrapper's
  loader does for its ``attention_mode``. ``disabled`` leaves the model as it is.
- ``ModelPatchTorchSettings``: fp16 accumulation in matmuls
  (``torch.backends.cuda.matmul.allow_fp16_accumulation``), held while the model samples.
- ``TorchCompileModelWanVideoV2``: torch.compile of the transformer blocks (or the whole
  forward), applied once when the model first samples on CUDA; on the CPU a notice, eager.
- ``TorchCompileModelAdvanced``: the same settings as V2 (its ``dynamic`` a choice: ``auto``
  leaves it to torch.compile); ``debug_compile_keys`` and ``disable_dynamic_vram`` concern
  ComfyUI's loader and logs, not the numbers.
- ``WanChunkFeedForward``: the blocks' feed-forward in ``chunks`` pieces along the tokens when
  there are more than ``dim_threshold`` of them (``sampling.hooks.FeedForwardChunks``, per
  sampling pass): the same numbers, a lower peak; ``chunks`` 1 leaves the model.
- ``ModelMemoryUsageFactorOverride``: hands the model on; it scales ComfyUI's estimate of
  the memory a step takes, which decides ComfyUI's offloading. wfrun measures the card
  instead (``models.residency``), so there is no estimate to scale.
- ``WanVideoMemoryEfficientSageAttentionPatch``: SageAttention for the model, as
  ``PathchSageAttentionKJ`` (the same fallback without the package or a GPU).
- ``TorchCompileModelWanVideo`` (deprecated): the same choice as V2, by revision: in the
  first (2025-02-26) ``compile_transformer_blocks`` compiles the blocks and off compiles
  nothing; from 2025-03-07 ``compile_transformer_blocks_only`` picks the blocks or the whole
  forward; since 2026-01-03 the node only hands its input on (the pack points users to
  TorchCompileModelAdvanced).
- ``PatchModelPatcherOrder`` (deprecated): hands the model on unchanged. In ComfyUI it
  reordered ``ModelPatcher.patch_model`` so LoRA weight patches were applied before (or
  after) compiled object patches, and forced or avoided a full load; wfrun has neither
  step to reorder: LoRAs are merged into the weights when a sampler takes the model, before
  any compile settings apply (what ``weight_patch_first`` achieved, and the result is the
  same numbers either way), and loading is ``models.residency``'s job. The pack itself made
  the node a no-op in 2025.
- ``WanVideoTeaCacheKJ``: KJNodes' native TeaCache — per cond/uncond state, the blocks
  skipped while the accumulated relative L1 change of the time embedding stays under the
  threshold: with a coefficient set, the polynomial of the change of ``e`` (the time
  embedder's output); ``disabled``, the raw change of ``e0`` (its projection). Active on
  the steps whose index / (sigmas - 1) lies in ``[start_percent, end_percent]``; state is
  fresh for each sampler run. The wrapper's TeaCache (``sampling.forward``) does the same
  arithmetic, so it runs here with the step window converted. ``rel_l1_thresh`` 0 leaves
  the model as it is.
- ``SkipLayerGuidanceWanVideo``: the listed blocks are skipped (their input passes
  through) on the *uncond* pass of the steps whose index / (sigmas - 1) lies in
  ``[start_percent, end_percent]``; the cond pass is untouched. The pack reads that
  percent from the state its TeaCache patch keeps (and fails without one); wfrun computes
  it from the sampler's sigmas, so it works with or without WanVideoTeaCacheKJ. The skip
  is the wrapper's SLG hook (``sampling.hooks``), the same rule.
- ``WanVideoEnhanceAVideoKJ``: Enhance-A-Video on every self-attention at every step, the
  score from the latent's frame count and ``weight`` (the formula of
  ``sampling.forward.feta_score``, KJNodes' ``get_feta_scores``); weight 0 leaves the model.
- ``CFGZeroStarAndInit``: CFG-Zero* with zero init as the model's cfg function
  (:class:`ZeroStarInit`).
- ``WanVideoNAG``: NAG on the model's cross-attention (``sampling.nag``), applied by the core
  samplers on every step.
- ``ScheduledCFGGuidance``: a GUIDER whose CFG applies inside a step window only.
- ``ApplyRifleXRoPE_WanVideo``: RIFLEx on the rotary embedding: temporal frequency ``k - 1``
  becomes ``0.9 · 2π / L`` with ``L`` the latent's frame count (KJNodes' ``rope_riflex``, the
  rule of the wrapper's ``riflex_freq_index``, ``sampling.forward.rotary_embedding``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.attention import usable_backend
from wfrun.sampling.ksampler.wrapped import GuiderChoice
from wfrun.sampling.nag import NAGGuidance, NAGParams, negative_tensor

log = logging.getLogger(__name__)


def _model(model: Any) -> CoreModel:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from UNETLoader, got {type(model).__name__}",
                             "these KJNodes patches work on ComfyUI's MODEL (the wrapper has its own nodes)")
    return model


@executor("PathchSageAttentionKJ")
def patch_sage_attention(ctx: ExecContext, model: Any, sage_attention: str, **_: Any) -> tuple:
    model = _model(model)
    if sage_attention == "disabled":
        return (dataclasses.replace(model, attention="native"),)
    backend = usable_backend("sage", "sageattention", ctx.device, f"SageAttention ({sage_attention})")
    return (dataclasses.replace(model, attention=backend) if backend != "native" else model,)


@executor("ModelPatchTorchSettings")
def model_patch_torch_settings(ctx: ExecContext, model: Any, enable_fp16_accumulation: bool, **_: Any) -> tuple:
    return (dataclasses.replace(_model(model), fp16_accumulation=bool(enable_fp16_accumulation)),)


@executor("TorchCompileModelWanVideoV2")
def torch_compile_model_wan(ctx: ExecContext, model: Any, backend: str, fullgraph: bool, mode: str, dynamic: bool,
                            compile_transformer_blocks_only: bool, dynamo_cache_size_limit: int, **_: Any) -> tuple:
    # the keyword arguments of models.compile.compile_transformer
    settings = {"backend": backend, "fullgraph": bool(fullgraph), "mode": mode, "dynamic": bool(dynamic),
                "blocks_only": bool(compile_transformer_blocks_only), "cache_size_limit": int(dynamo_cache_size_limit)}
    return (dataclasses.replace(_model(model), compile=settings),)


@executor("TorchCompileModelAdvanced")
def torch_compile_model_advanced(ctx: ExecContext, model: Any, backend: str, fullgraph: bool, mode: str,
                                 dynamic: str | bool, compile_transformer_blocks_only: bool, dynamo_cache_size_limit: int,
                                 **_: Any) -> tuple:
    """``dynamic`` is a switch in the first revision (2025-11-27), a choice since 2025-12-09."""
    choices = {"auto": None, "true": True, "false": False}
    if not isinstance(dynamic, bool) and str(dynamic) not in choices:
        raise NodeInputError("dynamic", f"unknown choice {dynamic!r}", "use auto, true or false")
    chosen = dynamic if isinstance(dynamic, bool) else choices[str(dynamic)]
    settings = {"backend": backend, "fullgraph": bool(fullgraph), "mode": mode, "dynamic": chosen,
                "blocks_only": bool(compile_transformer_blocks_only), "cache_size_limit": int(dynamo_cache_size_limit)}
    return (dataclasses.replace(_model(model), compile=settings),)


@executor("WanChunkFeedForward")
def wan_chunk_feed_forward(ctx: ExecContext, model: Any, chunks: int, dim_threshold: int, **_: Any) -> tuple:
    model = _model(model)
    if int(chunks) < 1:
        raise NodeInputError("chunks", f"{chunks} chunks", "use 1 or more (1 leaves the feed-forward whole)")
    if int(chunks) == 1:
        return (model,)
    return (dataclasses.replace(model, ffn_chunks=(int(chunks), int(dim_threshold))),)


@executor("ModelMemoryUsageFactorOverride")
def model_memory_usage_factor_override(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    """A pass-through; the module docstring says why nothing is lost."""
    return (_model(model),)


@executor("WanVideoMemoryEfficientSageAttentionPatch")
def wan_memory_efficient_sage_attention(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    model = _model(model)
    backend = usable_backend("sage", "sageattention", ctx.device, "SageAttention (memory-efficient)")
    return (dataclasses.replace(model, attention=backend) if backend != "native" else model,)


@executor("TorchCompileModelWanVideo")
def torch_compile_model_wan_v1(ctx: ExecContext, model: Any, backend: str | None = None, fullgraph: bool = False,
                               mode: str | None = None, dynamic: bool = False, dynamo_cache_size_limit: int | None = None,
                               compile_transformer_blocks: bool | None = None,
                               compile_transformer_blocks_only: bool | None = None, **_: Any) -> tuple:
    """The settings arrive from the saved revision's spec defaults; the newest revision (a
    pass-through of ``model`` alone) has none of them."""
    if compile_transformer_blocks is None and compile_transformer_blocks_only is None:
        return (model,)  # since 2026-01-03: a pass-through
    if compile_transformer_blocks is not None and not compile_transformer_blocks:
        return (_model(model),)  # the first revision compiled nothing then
    blocks_only = bool(compile_transformer_blocks_only) or compile_transformer_blocks is not None
    settings = {"backend": backend, "fullgraph": bool(fullgraph), "mode": mode, "dynamic": bool(dynamic),
                "blocks_only": blocks_only, "cache_size_limit": int(dynamo_cache_size_limit)}
    return (dataclasses.replace(_model(model), compile=settings),)


@executor("PatchModelPatcherOrder")
def patch_model_patcher_order(ctx: ExecContext, model: Any, **_: Any) -> tuple:
    """A pass-through; the module docstring says why nothing is lost."""
    return (model,)


#: KJNodes' coefficient names → the TeaCache4Wan2.1 sets of ``sampling.forward``.
TEACACHE_SETS = {"1.3B": "1_3B", "14B": "14B", "i2v_480": "i2v_480", "i2v_720": "i2v_720"}


@executor("WanVideoTeaCacheKJ")
def wan_teacache_kj(ctx: ExecContext, model: Any, rel_l1_thresh: float, start_percent: float, end_percent: float,
                    cache_device: str, coefficients: str, **_: Any) -> tuple:
    model = _model(model)
    if float(rel_l1_thresh) == 0:
        return (model,)
    if coefficients != "disabled" and coefficients not in TEACACHE_SETS:
        raise NodeInputError("coefficients", f"unknown coefficient set {coefficients!r}",
                             "use disabled, " + ", ".join(TEACACHE_SETS))
    settings = {"rel_l1_thresh": float(rel_l1_thresh), "start_percent": float(start_percent),
                "end_percent": float(end_percent), "coefficients": TEACACHE_SETS.get(coefficients),
                "cache_device": ctx.device if cache_device == "main_device" else ctx.offload_device}
    return (dataclasses.replace(model, teacache=settings),)


@executor("WanVideoEnhanceAVideoKJ")
def wan_enhance_a_video_kj(ctx: ExecContext, model: Any, latent: Any, weight: float, **_: Any) -> tuple:
    model = _model(model)
    if float(weight) == 0:
        return (model,)
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not hasattr(samples, "shape") or len(samples.shape) != 5:
        raise NodeInputError("latent", "expected a video LATENT [batch, channels, frames, height, width]")
    return (dataclasses.replace(model, feta=(float(weight), int(samples.shape[2]))),)


@executor("SkipLayerGuidanceWanVideo")
def skip_layer_guidance_wan(ctx: ExecContext, model: Any, blocks: str, start_percent: float, end_percent: float,
                            **_: Any) -> tuple:
    model = _model(model)
    try:
        listed = tuple(int(x.strip()) for x in str(blocks).split(",") if x.strip())
    except ValueError:
        raise NodeInputError("blocks", f"{blocks!r} is not a comma-separated list of block numbers",
                             "write block indices from 0, e.g. '9' or '9,10'") from None
    if not listed:
        raise NodeInputError("blocks", "no block given", "write block indices from 0, e.g. '9'")
    count = len(model.transformer.blocks)
    missing = [b for b in listed if not 0 <= b < count]
    if missing:  # ComfyUI patches blocks by index: one the model lacks is never called
        log.info("SkipLayerGuidanceWanVideo: the model has blocks 0 to %d; %s skip nothing", count - 1, missing)
    return (dataclasses.replace(model, uncond_skip=(listed, float(start_percent), float(end_percent))),)


@dataclasses.dataclass(frozen=True)
class ZeroStarInit:
    """CFGZeroStarAndInit's ``sampler_cfg_function`` for one run (``hook(sigmas)``): the
    steps up to ``zero_init_steps`` (the step found from the run's sigmas as KJNodes finds
    it) give a zero noise prediction, so the denoised result is the input itself; the other
    steps are CFG-Zero*: ``uncond * a + cfg * (cond - uncond * a)`` on the noise predictions
    with ``a = <cond, uncond> / (|uncond|² + 1e-8)`` per batch entry."""

    use_zero_init: bool
    zero_init_steps: int

    def __call__(self, sigmas: Any) -> Any:
        run = torch.as_tensor(sigmas).float().cpu()

        def step_of(sigma: Any) -> int:
            value = float(torch.as_tensor(sigma).reshape(-1)[0])
            exact = (run == value).nonzero()
            if len(exact):
                return int(exact[0])
            for i in range(len(run) - 1):
                if (float(run[i]) - value) * (float(run[i + 1]) - value) <= 0:
                    return i
            return 0

        def cfg_function(args: dict) -> Any:
            cond = args["cond"]
            if self.use_zero_init and step_of(args["timestep"]) <= self.zero_init_steps:
                return cond * 0
            uncond = args["uncond"]
            batch = cond.shape[0]
            pos, neg = cond.reshape(batch, -1), uncond.reshape(batch, -1)
            alpha = (pos * neg).sum(1, keepdim=True) / ((neg ** 2).sum(1, keepdim=True) + 1e-8)
            alpha = alpha.view(batch, *([1] * (cond.ndim - 1)))
            return uncond * alpha + args["cond_scale"] * (cond - uncond * alpha)

        return cfg_function


@executor("CFGZeroStarAndInit")
def cfg_zero_star_and_init(ctx: ExecContext, model: Any, use_zero_init: bool, zero_init_steps: int,
                           **_: Any) -> tuple:
    """KJNodes' CFG-Zero* with zero init as the model's ``sampler_cfg_function`` (see
    :class:`ZeroStarInit`). At CFG 1 ComfyUI makes no negative pass; the function then sees
    a zero negative prediction, as there."""
    return (dataclasses.replace(_model(model), cfg_function=ZeroStarInit(bool(use_zero_init),
                                                                         int(zero_init_steps))),)


@executor("WanVideoNAG")
def wan_video_nag(ctx: ExecContext, model: Any, conditioning: Any, nag_scale: float, nag_alpha: float, nag_tau: float,
                  **_: Any) -> tuple:
    """KJNodes' NAG patch of the Wan cross-attention: the positive prediction's text
    attention is guided away from ``conditioning`` on every step (``sampling.nag``; the same
    rule as ComfyUI-NAG). ``nag_scale`` 0 leaves the model. Where KJNodes runs the negative
    prompt's prediction as a separate batch, its patch treats it as a positive and guides it
    too; wfrun guides the positive prediction only (at CFG 1, the usual NAG setting with
    distilled models, the two agree). ``input_type`` batch (no CFG batch split) is the same
    here."""
    model = _model(model)
    if float(nag_scale) == 0:
        return (model,)
    try:
        tensor = negative_tensor(conditioning, int(model.transformer.config.text_dim))
    except ValueError as err:
        raise NodeInputError("conditioning", str(err), "connect the NAG prompt's CLIPTextEncode") from None
    nag = NAGGuidance(tensor, NAGParams(float(nag_scale), float(nag_tau), float(nag_alpha)), 0.0)
    return (dataclasses.replace(model, nag=nag),)


@executor("ScheduledCFGGuidance")
def scheduled_cfg_guidance(ctx: ExecContext, model: Any, positive: Any, negative: Any, cfg: Any,
                           start_percent: float, end_percent: float, **_: Any) -> tuple:
    """KJNodes' GUIDER with CFG only on the steps whose index / (sigmas - 1) lies in
    ``[start_percent, end_percent]`` and CFG 1 (no negative pass, so faster) elsewhere;
    ``cfg`` a number, or a list with one value per step (checked against the steps when
    sampling). See ``sampling.ksampler.wrapped.GuiderChoice``."""
    model = _model(model)
    if isinstance(cfg, (list, tuple)):
        values: Any = tuple(float(c) for c in cfg)
    elif isinstance(cfg, (int, float)) and not isinstance(cfg, bool):
        values = float(cfg)
    else:
        raise NodeInputError("cfg", f"expected a number or a list of numbers, found {cfg!r}")
    return (GuiderChoice(model, positive, negative, values, (float(start_percent), float(end_percent))),)


@executor("ApplyRifleXRoPE_WanVideo")
def apply_riflex_rope_wan(ctx: ExecContext, model: Any, latent: Any, k: int, **_: Any) -> tuple:
    model = _model(model)
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not hasattr(samples, "shape") or len(samples.shape) != 5:
        raise NodeInputError("latent", "expected a video LATENT [batch, channels, frames, height, width]")
    attention = model.transformer.config.attention_head_dim
    temporal = attention - 4 * (attention // 6)
    if not 1 <= int(k) <= temporal // 2:
        raise NodeInputError("k", f"k = {k}: the model has {temporal // 2} temporal frequencies", "use 1 to "
                             f"{temporal // 2} (6 is RIFLEx's usual choice)")
    return (dataclasses.replace(model, riflex=(int(k), int(samples.shape[2]))),)
