"""WanVideoSampler: the denoising loop of :mod:`wfrun.sampling.loop` as a node.

Follows ComfyUI-WanVideoWrapper's ``WanVideoSampler.process`` (nodes.py, 2025-07); the
loop's docstring lists the pack's choices it reproduces and where wfrun differs. Here:

- the conditioning must fit the model *before* any sampling: an I2V/FLF2V (36 channels) or
  Fun-control (48) model needs image embeds (WanVideoImageToVideoEncode) or control embeds;
  a text-to-video model (16 channels) must not get them, unless it has a control LoRA
  (control_lora.py), which takes control embeds. A Fun-InP model may run from
  WanVideoEmptyEmbeds (the pack gives it zero conditioning then).
- ``cache_args`` is also accepted under its older name ``teacache_args``;
- ``rope_function`` ``default``/``comfy``/``comfy_chunked`` are the same rotary embedding
  numerically (the pack's variants differ in speed and memory only), so all are accepted;
  WanVideoRoPEFunction's NTK factors scale the RoPE base of each axis with the ``comfy``
  ones (the pack's ``default`` rope ignores them);
- the transformer is used where the loader put it (hooks own block swap); only a model
  left whole on the CPU (``load_device: offload_device``) is moved to the main device for
  sampling, as the pack does; ``force_offload`` sends it back afterwards where the card
  lacks room for it (``models.residency.done``: on a card with room it stays, and the next
  model that needs the space sends it back);
- the step range (``start_step``/``end_step``/``add_noise_to_samples``, the second output
  ``denoised_samples``) follows the pack's rules as of 2026-05 for a sampler saved from
  2025-07-28, and the older ``denoise_strength`` arithmetic for one saved before
  (``ExecContext.saved_date``; see the loop's docstring);
- custom ``sigmas`` are taken the way the node's pack version takes them (``sigmas_era``:
  unshifted by every scheduler from 2025-12-04, shifted by euler/lcm before); a node whose
  saved layout spans that day, without ``properties.ver``, is refused where the two differ;
- Wan 2.2 Animate (WanVideoAnimateEmbeds, ``animate.py``): the reference/background
  latents are the image conditioning, the pose latents and face crops go to the shared
  forward (``sampling.forward``, the code ComfyUI's core path uses) with the pack's
  ``pose_strength``/``face_strength``; the uncond pass gets blank (-1) face crops, and
  context windows get the pack's slices of both (``sampling.loop``). An Animate model
  needs WanVideoAnimateEmbeds (wfrun refuses it with other embeds, where the pack would
  run it as plain image-to-video), and those embeds need an Animate model;
- FantasyTalking (``fantasytalking_embeds``, ``fantasytalking.py``): the audio windows go to
  the loop (``sampling.loop``: the audio cross-attention of every call, audio CFG); the
  model must have been loaded with the FantasyTalking model (``fantasytalking_model``).
  Differences: the pack's first day of FantasyTalking (2025-04-28, 5683d83) lost the audio
  term of audio CFG to a line break, fixed the next day (fe25d21) — wfrun applies the fixed
  formula to saves of that day too; under context windows each window also gets its own
  frames' window lengths (the pack cuts the windows and keeps the video's lengths, which
  only its flash modes read);
- ATI tracks set on the model by WanVideoATITracks (``ati.py``) go to the loop, which swaps
  in the motion-patched image conditioning inside their step window;
- MultiTalk / InfiniteTalk (``multitalk_embeds``, ``multitalk_sampling.py``): the audio
  goes to every call through the patch the model loader attached (``sampling.multitalk``);
  with WanVideoImageToVideoMultiTalk's embeds the sampler runs the long-video loop
  (``sampling.multitalk_long``) and returns decoded frames (the LATENT's ``video``);
- Fun-Camera (WanVideoFunCameraEmbeds, ``fun_camera.py``): a model with a camera adapter
  needs camera embeds and camera embeds need such a model (the pack fails later, or runs
  the rays nowhere); the loop feeds the rays to the adapter (``sampling.fun_camera``);
- Uni3C (``uni3c_embeds``, ``uni3c.py``): the controlnet runs in the loop's calls inside
  its window and adds its states after the blocks (``sampling.uni3c``);
- HuMo (HuMoEmbeds, ``humo.py``): the audio windows, image conditioning or references and
  the pack's HuMo guidance go to the loop (``sampling.humo_guidance``); a HuMo model needs
  HuMoEmbeds and they need one;
- Wan 2.2 S2V (WanVideoAddS2VEmbeds' embeds, ``s2v.py``, on a Wan2_2-S2V-14B model): the loop
  runs the S2V forward with the wrapper's audio, reference and pose per call
  (``sampling.s2v_wrapper``); an S2V model needs those embeds and they need one; with
  ``enable_framepack`` the sampler runs the pack's framepack loop (``sampling.s2v_framepack``)
  and returns decoded frames (the LATENT's ``video``);
- FlowEdit (``flowedit_args``, WanVideoFlowEdit, ``flowedit.py``): the sampler edits its input
  latents (``samples``) by FlowEdit (``sampling.flowedit_sampling``, whose docstring lists
  what it refuses);
- MiniMax-Remover (WanVideoMiniMaxRemoverEmbeds, ``remover.py``): a model without text needs
  those embeds and they need one; ``text_embeds`` may be left out and are not read (the
  model has no cross-attention), as in the pack (``sampling.remover``);
- inputs the pack uses for other model families (UniAnimate) raise a
  clear error when connected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models.families import TRANSFORMER_FAMILIES, conditioning_by_channels
from wfrun.models.humo_parts import is_humo
from wfrun.models.lora_files import LoraError, lora_paths, merged
from wfrun.models import placement, residency
from wfrun.packs.wanvideo.control_lora import control_lora_of
from wfrun.packs.wanvideo.fun_camera import check_camera
from wfrun.packs.wanvideo.types import (BlockSwapArgs, ContextOptions, ExperimentalArgs, FantasyTalkingEmbeds,
                                        FetaArgs, ImageEmbeds, LoopArgs, RopeChoice, SamplerOptions, ScheduleChoice,
                                        SLGArgs, TeaCacheArgs, TextEmbeds, WanVideoModel)
from wfrun.sampling.audio import FantasyAudio
from wfrun.sampling.freeinit import FreeInitArgs
from wfrun.sampling.flowedit import FlowEditArgs
from wfrun.sampling.flowedit_sampling import sample_flowedit
from wfrun.sampling.forward import teacache_variant
from wfrun.sampling.loop import SamplingError, SamplingRequest, sample
from wfrun.packs.wanvideo.multitalk_sampling import (check_long, check_windows, multitalk_audio, patch_on,
                                                     run_long)
from wfrun.sampling import remover
from wfrun.sampling.uni3c import Uni3CEmbeds
from wfrun.sampling.schedulers import SchedulerError, build_schedule, normalize_name
from wfrun.packs.wanvideo.sigmas_era import sigmas_as_given

UNSUPPORTED_INPUTS = ("unianimate_poses",)
IMAGE_TYPES = ("i2v", "fl2v", "flf2v", "fun_control", "fun-control")


def ultravico_alpha(model: WanVideoModel) -> float | None:
    """UltraViCo's alpha when the loader asked for its attention (``sageattn_ultravico``):
    WanVideoUltraVicoSettings' value, else the pack's 0.9; None for other attention modes."""
    if model.attention_mode != "sageattn_ultravico":
        return None
    return 0.9 if model.ultravico_alpha is None else float(model.ultravico_alpha)


def _freeinit(args: Any, samples: Any, long: Any) -> FreeInitArgs | None:
    """WanVideoFreeInitArgs for the loop (``sampling.freeinit``); refused with input latents
    (the pack skips its first pass for them, a case wfrun does not reproduce) and with the
    long-video MultiTalk loop (which runs its own windows)."""
    if args is None:
        return None
    if not isinstance(args, FreeInitArgs):
        raise NodeInputError("freeinit_args", f"expected FREEINITARGS, got {type(args).__name__}",
                             "connect WanVideoFreeInitArgs")
    if samples is not None:
        raise NodeInputError("freeinit_args", "FreeInit with input latents (samples) is not supported by wfrun",
                             "disconnect samples or freeinit_args")
    if long is not None:
        raise NodeInputError("freeinit_args", "FreeInit with the long-video MultiTalk loop is not supported",
                             "disconnect freeinit_args")
    return args


def check_conditioning(model: WanVideoModel, image_embeds: Any) -> None:
    """The model and its conditioning must agree (raised before any sampling)."""
    if not isinstance(image_embeds, ImageEmbeds):
        raise NodeInputError("image_embeds", f"expected WANVIDIMAGE_EMBEDS, got {type(image_embeds).__name__}",
                             "connect WanVideoEmptyEmbeds (text-to-video) or WanVideoImageToVideoEncode")
    name = Path(str(model.path)).name
    try:  # MiniMax-Remover: its embeds and a model without text go together (sampling.remover)
        if remover.check(model.transformer, image_embeds):
            return
    except remover.RemoverError as err:
        raise NodeInputError(err.input_name, f"{name}: {err}", err.hint) from None
    if image_embeds.humo is not None or is_humo(model.transformer):  # HuMo: checked by the loop (sampling.loop)
        if image_embeds.humo is None:
            raise NodeInputError("image_embeds", f"{name} is a HuMo model: it needs HuMoEmbeds",
                                 "connect HuMoEmbeds (reference images and audio) to image_embeds")
        return
    is_animate = getattr(model.transformer, "pose_patch_embedding", None) is not None
    if is_animate and image_embeds.animate is None:
        raise NodeInputError("image_embeds", f"{name} is a Wan 2.2 Animate model: it needs WanVideoAnimateEmbeds",
                             "connect WanVideoAnimateEmbeds (reference, pose and face images) to image_embeds")
    if image_embeds.animate is not None and not is_animate:
        raise NodeInputError("image_embeds", f"WanVideoAnimateEmbeds need a Wan 2.2 Animate model, not {name}",
                             "load a Wan2_2-Animate-14B file in WanVideoModelLoader")
    _check_flf2v_clip(name, model.transformer, image_embeds)
    if check_camera(name, model.transformer, image_embeds):  # Fun-Camera: its layout is checked by the loop
        return
    in_ch = model.in_channels
    has_image = image_embeds.image_embeds is not None
    has_control = image_embeds.control_embeds is not None
    control_lora = control_lora_of(model.transformer) is not None
    conditioning = conditioning_by_channels(in_ch, model.latent_channels)  # the model's family's needs (families)
    if conditioning == "image-latent" and (has_image or has_control):  # TI2V-5B: its image is a latent frame
        raise NodeInputError("image_embeds", f"{name} (Wan 2.2 TI2V-5B) takes no image or control embeds",
                             "use WanVideoEmptyEmbeds, with WanVideoEncode's latents of the start image as extra_latents")
    if conditioning == "text" and (has_image or (has_control and not control_lora)):
        what = "image embeds (from WanVideoImageToVideoEncode)" if has_image else "control embeds"
        raise NodeInputError("image_embeds", f"the text-to-video model {name} cannot use {what}",
                             "load an image-to-video or Wan-Fun control model, give this one a control LoRA "
                             "(WanVideoLoraSelect), or use WanVideoEmptyEmbeds")
    if conditioning == "control" and not has_control:
        raise NodeInputError("image_embeds", f"the Wan-Fun control model {name} needs control embeds",
                             "connect WanVideoControlEmbeds (through WanVideoEmptyEmbeds or "
                             "WanVideoImageToVideoEncode's control_embeds), or WanVideoAddControlEmbeds")
    if conditioning == "image" and not has_image and model.model_type not in ("fun_inp", "fun-inp"):
        raise NodeInputError("image_embeds", f"the image-to-video model {name} ({model.model_type}) needs an image: "
                             "got empty embeds", "connect WanVideoImageToVideoEncode with a start image, or load a "
                             "text-to-video model")
    if conditioning is None:
        widths = " or ".join(str(n) for n in sorted({f.in_channels for f in TRANSFORMER_FAMILIES if f.generation == "2.1"
                                                     and f.conditioning in ("text", "image", "control")}))
        raise NodeInputError("model", f"{name} takes {in_ch} input channels; wfrun samples Wan 2.1 models with "
                             f"{widths}")


def _check_flf2v_clip(name: str, transformer: Any, image_embeds: ImageEmbeds) -> None:
    """An FLF2V model adds its position table (both images' CLIP tokens, 2 x 257) to the CLIP
    tokens viewed as ``[-1, 2 x tokens, dim]`` (the pack's ``MLPProj``, diffusers'
    ``WanImageEmbedding``): one image's tokens (WanVideoClipVisionEncode ``average`` or
    ``sum``, or a single image) cannot be viewed so, and the pack fails there with a shape
    error; named here before sampling."""
    embedder = getattr(getattr(transformer, "condition_embedder", None), "image_embedder", None)
    pos = getattr(embedder, "pos_embed", None)
    clip = image_embeds.clip_context
    if pos is None or not isinstance(clip, torch.Tensor) or clip.ndim != 3:
        return
    if (clip.shape[0] * clip.shape[1]) % pos.shape[1]:
        raise NodeInputError("image_embeds", f"{name} is a first-last-frame model: it takes the CLIP tokens of "
                             f"two images ({pos.shape[1]} in all), got {clip.shape[0]} x {clip.shape[1]}",
                             "encode the start and end images in WanVideoClipVisionEncode with combine_embeds "
                             "concat")


#: What the engine advises when sampling runs out of memory.
SAMPLER_OOM_HINT = (
    "keep transformer blocks on the CPU (a WanVideoBlockSwap node into the model loader's block_swap_args; "
    "about 0.4 GiB per 14B block in fp8), load the model with quantization fp8_e4m3fn, or make fewer frames "
    "or a smaller size")


@executor("WanVideoSampler", oom_hint=SAMPLER_OOM_HINT)
def wanvideo_sampler(ctx: ExecContext, model: WanVideoModel, image_embeds: ImageEmbeds, steps: int,
                     cfg: Any, shift: float, seed: int, scheduler: str,
                     riflex_freq_index: int, *, text_embeds: TextEmbeds | None = None, force_offload: bool,
                     samples: dict | None = None, denoise_strength: float, feta_args: FetaArgs | None = None,
                     context_options: ContextOptions | None = None, cache_args: TeaCacheArgs | None = None,
                     teacache_args: TeaCacheArgs | None = None, batched_cfg: bool,
                     slg_args: SLGArgs | None = None, rope_function: str, loop_args: LoopArgs | None = None,
                     experimental_args: ExperimentalArgs | None = None, sigmas: Any = None,
                     start_step: int, end_step: int, add_noise_to_samples: bool,
                     **others: Any) -> tuple:
    if others.get("vace_input") is not None:  # VACE comes in image_embeds (WanVideoVACEEncode) since 2025-04-02
        raise NodeInputError("vace_input", "the VACE preview input of 2025-04-01 is not supported",
                             "connect WanVideoVACEEncode's vace_embeds to image_embeds, as the pack does since 2025-04-02")
    for name in UNSUPPORTED_INPUTS:
        if others.get(name) is not None:
            raise NodeInputError(name, f"'{name}' is not supported by wfrun's WanVideoSampler",
                                 "disconnect it (wfrun runs Wan 2.1 text/image-to-video, FLF2V and Fun)")
    if not isinstance(model, WanVideoModel):
        raise NodeInputError("model", f"expected WANVIDEOMODEL, got {type(model).__name__}")
    long = getattr(image_embeds, "multitalk_long", None)
    if long is None:
        check_conditioning(model, image_embeds)
    if text_embeds is not None and not isinstance(text_embeds, TextEmbeds):
        raise NodeInputError("text_embeds", f"expected WANVIDEOTEXTEMBEDS, got {type(text_embeds).__name__}")
    scheduler_options: dict[str, Any] = {}
    if isinstance(scheduler, ScheduleChoice):  # WanVideoScheduler(v2): its steps, shift, sigmas and range
        steps, shift, sigmas = scheduler.steps, scheduler.shift, scheduler.sigmas
        start_step, end_step = scheduler.start_step, scheduler.end_step
        scheduler_options = dict(scheduler.options)
        as_given, enhance_hf = scheduler.sigmas_as_given, scheduler.enhance_hf
        scheduler = scheduler.name
    else:
        as_given = sigmas_as_given(ctx, "WanVideoSampler") if sigmas is not None else True
        enhance_hf = False
    try:
        if not (long is not None and scheduler == "multitalk"):  # that one runs in the long-video loop only
            normalize_name(scheduler)
    except SchedulerError as err:
        raise NodeInputError("scheduler", str(err), err.hint) from None
    ntk_alphas = (1.0, 1.0, 1.0)
    if isinstance(rope_function, RopeChoice):  # WanVideoRoPEFunction with NTK factors
        ntk_alphas, rope_function = rope_function.ntk_alphas, rope_function.rope_function
    if rope_function not in ("default", "comfy", "comfy_chunked"):
        raise NodeInputError("rope_function", f"unknown rope function '{rope_function}'",
                             "use default, comfy or comfy_chunked")
    if isinstance(cfg, (list, tuple)):
        cfg = [float(c) for c in cfg]
    elif isinstance(cfg, torch.Tensor):
        cfg = [float(c) for c in cfg.flatten()] if cfg.numel() > 1 else float(cfg)
    cache = cache_args if cache_args is not None else teacache_args
    audio, audio_cfg = _fantasy_audio(others.get("fantasytalking_embeds"))
    talk, talk_cfg = multitalk_audio(model, others.get("multitalk_embeds"), image_embeds)
    if talk is not None:
        audio_cfg = talk_cfg
    if long is not None:
        check_long(model, talk, samples, context_options, scheduler)
    freeinit = _freeinit(others.get("freeinit_args"), samples, long)
    check_windows(talk, context_options)
    flowedit = others.get("flowedit_args")
    if flowedit is not None and not isinstance(flowedit, FlowEditArgs):
        raise NodeInputError("flowedit_args", f"expected FLOWEDITARGS, got {type(flowedit).__name__}",
                             "connect WanVideoFlowEdit")
    if flowedit is not None and long is not None:
        raise NodeInputError("flowedit_args", "FlowEdit with the MultiTalk long-video loop is not supported",
                             "disconnect flowedit_args")
    uni3c = others.get("uni3c_embeds")
    if uni3c is not None and not isinstance(uni3c, Uni3CEmbeds):
        raise NodeInputError("uni3c_embeds", f"expected UNI3C_EMBEDS, got {type(uni3c).__name__}",
                             "connect WanVideoUni3C_embeds")

    transformer = model.transformer
    device = ctx.device
    exec_device, swap = place_for_sampling(model, device)

    options = SamplerOptions(teacache=cache, slg=slg_args, feta=feta_args, context=context_options,
                             experimental=experimental_args, batched_cfg=bool(batched_cfg),
                             rope_function=str(rope_function), ntk_alphas=ntk_alphas,
                             riflex_freq_index=int(riflex_freq_index), loop=loop_args)
    dim = int(transformer.config.num_attention_heads * transformer.config.attention_head_dim)
    if as_given is None:
        as_given = settle_sigmas_era(str(scheduler), int(steps), float(shift), sigmas, dim, scheduler_options)
    request = SamplingRequest(
        transformer=transformer, image_embeds=image_embeds, text_embeds=text_embeds, steps=int(steps), cfg=cfg,
        shift=float(shift), seed=int(seed), scheduler=str(scheduler), dtype=model.base_dtype, device=exec_device,
        denoise_strength=float(denoise_strength), samples=samples,
        sigmas=sigmas, options=options,
        teacache_variant=teacache_variant(model.model_type, Path(str(model.path)).name, dim),
        model_file=Path(str(model.path)).name,
        cache_device=cache.cache_device if cache is not None else "cpu",
        progress=ctx.progress, check_interrupt=ctx.check_interrupt, attention=model.attention_backend,
        attention_override=model.attention_override,
        step_range=_step_range(ctx.saved_date, start_step, end_step, add_noise_to_samples),
        audio=audio, audio_cfg=audio_cfg, ati=model.ati, multitalk=talk, uni3c=uni3c, freeinit=freeinit,
        scheduler_options=scheduler_options, ultravico_alpha=ultravico_alpha(model), sigmas_as_given=bool(as_given),
        enhance_hf=enhance_hf)
    try:
        with merged(transformer, lora_paths(model.pass_loras)), torch.no_grad(), \
                patch_on(model, exec_device, bool(force_offload)):  # WanVideoSetLoRAs
            if long is not None:
                video = run_long(ctx, request, long, talk, model)
                return (video, video)
            s2v = getattr(image_embeds, "s2v", None)
            if s2v is not None and s2v.framepack and flowedit is None:
                video = run_framepack(ctx, request, s2v.vae)
                return (video, video)
            latent = sample_flowedit(request, flowedit) if flowedit is not None else sample(request)
    except (SamplingError, SchedulerError) as err:
        raise NodeInputError(err.input_name, str(err), err.hint) from None
    except LoraError as err:
        raise NodeInputError("model", str(err)) from None
    finally:
        release_after_sampling(model, device, swap, force_offload)
    latent.pop("teacache_skipped", None)
    denoised = latent.pop("denoised", None)
    return (latent, {"samples": denoised})


def run_framepack(ctx: ExecContext, request: SamplingRequest, vae: Any) -> dict:
    """The S2V framepack loop (``sampling.s2v_framepack``) with the embeds' VAE; the LATENT
    with the decoded ``video``."""
    from wfrun.packs.wanvideo.vae import decode_latents, encode_video
    from wfrun.sampling.s2v_framepack import sample_framepack

    def encode(video: torch.Tensor) -> torch.Tensor:
        placement.onload(vae.vae, ctx.device)
        return encode_video(vae, video, ctx.device).to(request.device)

    def decode(latents: torch.Tensor) -> torch.Tensor:
        placement.onload(vae.vae, ctx.device)
        return decode_latents(vae, latents, ctx.device)

    try:
        return sample_framepack(request, encode, decode)
    finally:
        placement.offload(vae.vae, ctx.offload_device)


def _fantasy_audio(embeds: Any) -> tuple[FantasyAudio | None, Any]:
    """The loop's FantasyTalking audio and audio CFG scale from ``fantasytalking_embeds``."""
    if embeds is None:
        return None, 1.0
    if not isinstance(embeds, FantasyTalkingEmbeds):
        raise NodeInputError("fantasytalking_embeds", f"expected FANTASYTALKING_EMBEDS, got {type(embeds).__name__}",
                             "connect FantasyTalkingWav2VecEmbeds")
    audio = FantasyAudio(tokens=embeds.audio_proj, lens=embeds.audio_context_lens, scale=float(embeds.audio_scale))
    return audio, embeds.audio_cfg_scale


#: The pack gave WanVideoSampler its step range on this day (commit d6e9af7, "2.2 stuff").
STEP_RANGE_SINCE = "2025-07-28"


def _step_range(saved_date: str | None, start_step: Any, end_step: Any, add_noise: Any) -> tuple[int, int, bool] | None:
    """The step range, or None for a sampler saved before the pack had one (its
    ``denoise_strength`` then divides the steps, and input latents at denoise 1 are unused)."""
    if saved_date is not None and str(saved_date) < STEP_RANGE_SINCE:
        return None
    for name, value in (("start_step", start_step), ("end_step", end_step)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise NodeInputError(name, f"{name} = {value!r} is neither a step number nor a sigma",
                                 "give a step number, or a sigma from 0 to 1 (WanVideoSigmaToStep)")
    return start_step, end_step, bool(add_noise)  # a float is a sigma threshold, as in the pack


def place_for_sampling(model: WanVideoModel, device: Any) -> tuple[torch.device, int]:
    """Put the transformer where a sampling pass runs it; return the device its blocks
    compute on and the number of blocks streamed: block by block when the loader asked for
    block swap (the pack's WanVideoBlockSwap / VRAMManagement), else whole on ``device`` (the
    pack samples on the main device whatever the initial load_device). Shared by
    WanVideoSampler and the diffusion-forcing sampler; :func:`release_after_sampling` undoes
    it."""
    transformer = model.transformer
    swap = placement.blocks_to_swap(model.block_swap, model.vram_management, len(transformer.blocks))
    if swap and control_lora_of(transformer) is not None:
        raise NodeInputError("model", "block swap together with a control LoRA is not supported: the LoRA is "
                             "merged and removed during sampling, which the streamed blocks would miss",
                             "remove the WanVideoBlockSwap / WanVideoVRAMManagement link from the model loader")
    if swap and not placement.is_hooked(transformer):
        swap_args = model.block_swap or BlockSwapArgs(blocks_to_swap=swap)
        placement.place_transformer(transformer, device, model.offload_device, swap_blocks=swap,
                                    non_blocking=swap_args.use_non_blocking,
                                    offload_img_emb=swap_args.offload_img_emb,
                                    offload_txt_emb=swap_args.offload_txt_emb)
    else:
        residency.bring(transformer, device, model.offload_device)
    return next(transformer.patch_embedding.parameters()).device, swap


def release_after_sampling(model: WanVideoModel, device: Any, swap: int, force_offload: Any) -> None:
    """After the pass: a streamed model's resident part goes back as the pack sends it
    (only with ``force_offload``); a whole one is left to the residency rule."""
    if swap:
        if force_offload:
            placement.offload(model.transformer, model.offload_device)
    else:
        residency.done(model.transformer, device, model.offload_device, force_offload=bool(force_offload))


def settle_sigmas_era(scheduler: str, steps: int, shift: float, sigmas: Any, dim: int,
                      options: dict[str, Any]) -> bool:
    """Custom sigmas on a node whose saved signature spans the pack's 2025-12-04 change
    (``sigmas_era``): either way where both give the same schedule, else refused."""
    def built(as_given: bool) -> tuple | str:
        try:
            s = build_schedule(scheduler, steps, shift, sigmas=sigmas, transformer_dim=dim, options=options,
                               walked=False, sigmas_as_given=as_given)
        except SchedulerError as err:
            return str(err)
        return (type(s.stepper).__name__, s.timesteps.tolist(), s.stepper.sigmas.tolist())

    if built(True) == built(False):
        return True
    raise NodeInputError("sigmas", "the pack changed how it takes custom sigmas on 2025-12-04 (as given, where "
                         f"'{scheduler}' shifted or ignored them before), and this node's saved layout was in "
                         "the pack on both sides of that day",
                         "re-save the workflow in ComfyUI (its properties.ver then names the pack version)")
