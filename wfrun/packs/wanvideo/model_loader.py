"""WanVideoModelLoader and its option nodes (block swap, VRAM management, torch.compile).

The pack builds its own ``WanModel`` and wraps it in a ComfyUI ``ModelPatcher``; wfrun loads
the same file into diffusers' ``WanTransformer3DModel`` (see ``wfrun.models.load``) and
returns a :class:`WanVideoModel` saying how the workflow wants it run.

Choices mapped onto diffusers/torch, and why:

- ``base_precision``: the compute dtype; ``fp16_fast`` is fp16 plus
  ``allow_fp16_accumulation`` where torch has it (what the pack sets).
- ``quantization``: ``disabled`` keeps an fp8 file's weights in fp8 (wfrun never up-casts a
  14B model to bf16 behind the user's back; the pack does the same for fp8 files since
  2025-03); ``fp8_e4m3fn``/``_fast``/``_fast_no_ffn``/``fp8_e5m2`` store the block linears in
  that fp8 format and up-cast per layer; ``*_scaled`` files keep their per-tensor scales.
  The ``_fast`` variants run the block matmuls in fp8 (``torch._scaled_mm``) as the pack
  does, with one difference: the activations get a scale per token instead of being clamped
  to the fp8 range (``models.fp8.scaled_fp8_linear``). ``wfrun run --fast`` does the same
  for any quantization and compiles the blocks (``models.fast``).
- ``attention_mode``: sdpa → diffusers' ``native`` backend (PyTorch SDPA; measured fastest on
  H100, see DESIGN.md); flash_attn_2 → ``flash``, flash_attn_3 → ``_flash_3``, sageattn and
  radial_sage_attention → ``sage``, flex_attention → ``flex``, each only where its library
  is installed and the device is CUDA, otherwise ``native`` with a note.
- ``block_swap_args`` / ``vram_management_args``: diffusers group offloading on the first
  blocks (see ``placement``). VRAM management's ``offload_percent`` becomes that share of
  the blocks swapped — DiffSynth's per-parameter scheme is not reproduced.
- ``compile_args``: ``torch.compile`` on each block (or the whole model) on CUDA only.
- ``vace_model`` (2025-04) / ``extra_model`` (2025-08, the same VACEPATH): VACE module
  files laid over the main model, as the pack's ``sd.update`` (``models.vace_module``); the
  result is a diffusers ``WanVACETransformer3DModel``. As the pack: the main model must be
  text-to-video, and a module alone is refused as the main model. A GGUF main model takes
  GGUF modules (Kijai's ``Wan2_2_Fun_VACE_module_A14B_*_Q4_K_M.gguf``), kept quantized like
  the model (``load_gguf``); as in the pack, a GGUF model with a safetensors module, or the
  other way round, is refused.
- ``fantasytalking_model`` (2025-04-28): FantasyTalking's per-block audio key/value maps
  are attached to each block's cross-attention in ``base_precision``
  (``models.fantasytalking.attach``), as the pack's ``sd.update``; the file must fit the
  model's width and depth (Wan 2.1 I2V 14B).
- ``multitalk_model`` (2025-06-18): the MultiTalk/InfiniteTalk patch
  (``models.multitalk``) kept beside the transformer; its blocks' audio layers in the
  model's precision (fp8 under fp8 quantization, norms and biases not), the audio projection
  in MultiTalkModelLoader's; the sampler hooks it into the blocks (``sampling.multitalk``).
  It must fit the model's width, depth and heads (Wan 2.1 14B). A GGUF patch (Kijai's
  ``Wan2_1-InfiniteTalk_Single_Q8.gguf``) goes with a GGUF main model only, as in the pack;
  it is dequantized on load (``models.multitalk.load_multitalk``).
- MiniMax-Remover files (no ``text_embedding``: the pack's ``no_cross_attn`` model type) load
  without text embedding and cross-attention (``models.no_text``); WanVideoSampler gives them
  WanVideoMiniMaxRemoverEmbeds' latents (``remover.py``).
- Wan 2.2 Animate files load into diffusers' ``WanAnimateTransformer3DModel`` (pose patch
  embedding, motion and face encoders, face adapters); the sampler gives them the pose
  and face inputs of WanVideoAnimateEmbeds (``animate.py``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models.compile import compile_transformer
from wfrun.models.fast import make_fast, wants_fast
from wfrun.sampling.attention import usable_backend
from wfrun.models.families import transformer_family
from wfrun.models.fantasytalking import FantasyTalking, attach as attach_fantasytalking
from wfrun.models.header import CheckpointError
from wfrun.nodes.models import loading_error, resolve
from wfrun.packs.wanvideo.lora_select import read_select_ahead
from wfrun.models import placement, residency
from wfrun.packs.wanvideo.types import (
    BlockSwapArgs, CompileArgs, LoraSpec, MultiTalkModel, VacePath, VRAMManagementArgs, WanVideoModel, lora_blocks,
)


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp16_fast": torch.float16}

ATTENTION_BACKENDS = {
    "sdpa": ("native", None),
    "flash_attn_2": ("flash", "flash_attn"),
    "flash_attn_3": ("_flash_3", "flash_attn_interface"),
    "sageattn": ("sage", "sageattention"),
    "radial_sage_attention": ("sage", "sageattention"),
    "flex_attention": ("flex", None),
    # names used by older saves
    "sageattn_varlen": ("sage_varlen", "sageattention"),
    "spargeattn": ("native", None),
    "spargeattn_tune": ("native", None),
}

#: Detected transformer family (wfrun.models.families) → the pack's notion of model type.
MODEL_TYPES = {"t2v": "t2v", "i2v": "i2v", "flf2v": "fl2v", "fun-control": "fun_control", "fun-inp": "fun_inp",
               "vace": "t2v", "ti2v-5b": "t2v",  # the pack calls a VACE model and the 5B t2v
               "minimax-remover": "no_cross_attn"}  # the pack's name for a model without text_embedding


def pack_model_type(task: str) -> str:
    """The pack's ``model_type`` for a detected family (``i2v-14B-480P`` is the family ``i2v``);
    a Wan 2.2 family takes the one of the Wan 2.1 task whose sampler inputs it takes
    (``i2v-a14b`` samples as ``i2v``: ``models.families``' ``samples_as``)."""
    family = transformer_family(task)
    base = family.samples_as if family is not None and family.samples_as else task
    return MODEL_TYPES.get(base, base)


def attention_backend(mode: str, device: str) -> str:
    backend, package = ATTENTION_BACKENDS.get(mode, ("native", None))
    return usable_backend(backend, package, device, f"mode {mode}")


@executor("WanVideoModelLoader", background=True, gguf_inputs=("model",))
def wanvideo_model_loader(ctx: ExecContext, model: str, base_precision: str,
                          quantization: str, load_device: str,
                          attention_mode: str, compile_args: CompileArgs | None = None,
                          block_swap_args: BlockSwapArgs | None = None, lora: Any = None,
                          vram_management_args: VRAMManagementArgs | None = None, **unused: Any) -> tuple:
    from wfrun.models.load import load_transformer
    from wfrun.models.detect import identify
    from wfrun.models.reader import open_checkpoint

    multitalk = unused.get("multitalk_model")
    if multitalk is not None and not isinstance(multitalk, MultiTalkModel):
        raise NodeInputError("multitalk_model", f"expected a MULTITALKMODEL, got {type(multitalk).__name__}",
                             "connect MultiTalkModelLoader")
    fantasytalking = unused.get("fantasytalking_model")
    if fantasytalking is not None and not isinstance(fantasytalking, FantasyTalking):
        raise NodeInputError("fantasytalking_model", f"expected a FANTASYTALKINGMODEL, got "
                             f"{type(fantasytalking).__name__}", "connect FantasyTalkingModelLoader")
    vace_input, vace_modules = _vace_modules(unused)
    if block_swap_args is not None and vram_management_args is not None:
        raise NodeInputError("vram_management_args", "block_swap_args and vram_management_args cannot be used "
                             "together (the pack refuses this too)", "connect only one of them")
    if base_precision not in PRECISIONS:
        raise NodeInputError("base_precision", f"unknown precision {base_precision!r}",
                             f"use one of {', '.join(PRECISIONS)}")
    path = resolve(ctx, "diffusion_models", model, "model")
    gguf = path.suffix.lower() == ".gguf"  # the pack loads GGUF files too (quantized, dequantized per layer)
    if multitalk is not None and multitalk.path.suffix.lower() == ".gguf" and not gguf:
        raise NodeInputError("multitalk_model", f"{multitalk.path.name} is a GGUF file; the pack reads a GGUF "
                             "MultiTalk/InfiniteTalk model only beside a GGUF main model",
                             "select a .gguf main model, or the .safetensors release of the MultiTalk model")
    dtype = PRECISIONS[base_precision]
    if base_precision == "fp16_fast" and hasattr(torch.backends.cuda.matmul, "allow_fp16_accumulation"):
        torch.backends.cuda.matmul.allow_fp16_accumulation = True
    target = placement.node_device(load_device, ctx)
    wants_swap = placement.blocks_to_swap(block_swap_args, vram_management_args, 1) > 0
    # With block swap the model waits on the offload device; the sampler places it (placement.py).
    first_device = ctx.offload_device if wants_swap else target
    try:
        if gguf:
            from wfrun.models.load_gguf import gguf_info, load_gguf_transformer

            task = gguf_info(path, ["wan_transformer"]).task
            transformer = load_gguf_transformer(path, dtype=dtype, device=first_device, vace_modules=vace_modules)
        else:
            with open_checkpoint(path) as reader:
                task = identify(reader.path, reader.tensors, reader.metadata).task
            direct = not wants_swap and multitalk is None and fantasytalking is None
            with load_place(ctx, first_device, path, vace_modules, direct=direct) as where:
                # block swap streams the blocks from host memory: NVFP4 / MXFP8 layers cross packed
                transformer = load_transformer(path, dtype=dtype, device=where, quantization=quantization,
                                               vace_modules=vace_modules, packed=True if wants_swap else None)
            if str(where) != str(first_device):
                residency.track(transformer, where, ctx.offload_device)
        if vace_modules:
            task = "vace"
    except (CheckpointError, ValueError) as err:
        module_fault = vace_modules and any(str(m) in str(err) for m in vace_modules)
        raise loading_error(vace_input if module_fault else "model", err) from None
    transformer.eval().requires_grad_(False)
    if fantasytalking is not None:
        try:
            attach_fantasytalking(transformer, fantasytalking, dtype)
        except ValueError as err:
            raise NodeInputError("fantasytalking_model", str(err)) from None
    patch = _multitalk_patch(multitalk, transformer, dtype, quantization, ctx) if multitalk is not None else None
    backend = attention_backend(attention_mode, ctx.device)  # set for each sampling pass (sampling.hooks)
    if compile_args is not None:
        _compile(transformer, compile_args, ctx.device)
    loras = tuple(lora) if lora else ()
    pass_loras: tuple = ()
    if loras and gguf:  # quantized weights stay quantized: the LoRAs are merged for each pass
        pass_loras, loras = loras, ()
    if loras:
        from wfrun.packs.wanvideo.lora import apply_loras

        apply_loras(transformer, loras)
    fast, skip_ffn = wants_fast(quantization, ctx.fast)
    if fast and not gguf:  # after the LoRAs: a bf16 model's LoRA is merged before it is quantized
        make_fast(transformer, ctx.device, skip_ffn=skip_ffn, compile_blocks=ctx.fast and compile_args is None,
                  fp8_attention=ctx.fp8_attention)
    return (WanVideoModel(transformer=transformer, model_type=pack_model_type(task), path=path,
                          base_dtype=dtype, quantization=quantization, attention_backend=backend,
                          attention_mode=str(attention_mode), load_device=first_device, offload_device=ctx.offload_device, block_swap=block_swap_args,
                          vram_management=vram_management_args, compile_args=compile_args, loras=loras,
                          pass_loras=pass_loras, multitalk=patch,
                          multitalk_type=multitalk.model_type if multitalk is not None else None),)


def load_place(ctx: ExecContext, first_device: Any, path: Path, vace_modules: tuple, *, direct: bool):
    """Where the checkpoint is read (a context: the bytes are claimed while it loads).

    A model the node loads into host memory (``load_device: offload_device``) that may go
    straight to the GPU (``direct``: no block swap, no MultiTalk or FantasyTalking parts
    attached on the host) goes onto the GPU while the card keeps half of itself free with
    it there (``residency.load_target``, as wfrun's core loaders do): the sampler moves it
    there first thing anyway, which took 3 s of the 14B end-frame job's sampler (15.5 GiB
    from pageable host memory; bench/RESULTS.md, session 18). The caller tracks it as
    resident, so it goes back when another model needs the room."""
    if not direct or str(first_device) != str(ctx.offload_device):
        return contextlib.nullcontext(first_device)
    nbytes = path.stat().st_size + sum(Path(m).stat().st_size for m in vace_modules)
    return residency.load_target(nbytes, ctx.device, ctx.offload_device)


#: Quantizations that store the blocks' linear weights in fp8 (the pack's ``params_to_keep``
#: leaves norms and biases in the base precision).
FP8 = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e4m3fn_fast": torch.float8_e4m3fn,
       "fp8_e4m3fn_fast_no_ffn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


def _multitalk_patch(multitalk: MultiTalkModel, transformer: Any, dtype: torch.dtype, quantization: str,
                     ctx: ExecContext) -> Any:
    """The MultiTalk/InfiniteTalk patch in the model's precision: the blocks' audio layers as
    the pack's ``sd.update`` stores them (fp8 linear weights under fp8 quantization; the fp8
    ``_fast`` matmul is for the transformer's own blocks, the audio layers cast on use), the
    audio projection in MultiTalkModelLoader's precision (or the model's)."""
    from wfrun.models.multitalk import load_multitalk

    fp8 = FP8.get(str(quantization))
    proj_dtype = multitalk.proj_dtype or dtype

    def convert(name: str, tensor: torch.Tensor) -> torch.Tensor:
        if name.startswith("audio_proj."):
            return tensor.to(proj_dtype)
        if fp8 is not None and name.endswith(".weight") and "norm" not in name:
            return tensor.to(fp8)
        return tensor.to(dtype)

    try:
        patch = load_multitalk(multitalk.path, device=ctx.offload_device, convert=convert)
    except (CheckpointError, ValueError) as err:
        raise loading_error("multitalk_model", err) from None
    width = int(transformer.config.num_attention_heads * transformer.config.attention_head_dim)
    if patch.spec.dim != width or patch.spec.blocks < len(transformer.blocks) \
            or patch.spec.heads != int(transformer.config.num_attention_heads):
        raise NodeInputError("multitalk_model", f"{multitalk.path.name} is for a {patch.spec.dim}-wide model of "
                             f"{patch.spec.blocks} blocks and {patch.spec.heads} heads; this one is {width} wide "
                             f"with {len(transformer.blocks)} blocks", "use a Wan 2.1 14B image-to-video model")
    return patch


def _vace_modules(inputs: dict[str, Any]) -> tuple[str, tuple]:
    """The VACE module files of ``vace_model`` (2025-04) or ``extra_model`` (2025-08), and
    the input they came through."""
    for name in ("vace_model", "extra_model"):
        value = inputs.get(name)
        if value is None:
            continue
        if not isinstance(value, VacePath):
            raise NodeInputError(name, f"expected VACEPATH (WanVideoVACEModelSelect), got {type(value).__name__}")
        return name, value.paths
    return "vace_model", ()


def _compile(transformer: Any, args: CompileArgs, device: str) -> None:
    compile_transformer(transformer, device, backend=args.backend, fullgraph=args.fullgraph, mode=args.mode,
                        dynamic=args.dynamic, blocks_only=args.compile_transformer_blocks_only,
                        cache_size_limit=args.dynamo_cache_size_limit)


@executor("WanVideoBlockSwap")
def wanvideo_block_swap(ctx: ExecContext, blocks_to_swap: int, offload_img_emb: bool,
                        offload_txt_emb: bool, use_non_blocking: bool,
                        vace_blocks_to_swap: int, **_: Any) -> tuple:
    return (BlockSwapArgs(int(blocks_to_swap), bool(offload_img_emb), bool(offload_txt_emb),
                          bool(use_non_blocking), int(vace_blocks_to_swap)),)


@executor("WanVideoVRAMManagement")
def wanvideo_vram_management(ctx: ExecContext, offload_percent: float, **_: Any) -> tuple:
    return (VRAMManagementArgs(float(offload_percent)),)


@executor("WanVideoTorchCompileSettings")
def wanvideo_compile_settings(ctx: ExecContext, backend: str, fullgraph: bool,
                              mode: str, dynamic: bool, dynamo_cache_size_limit: int,
                              compile_transformer_blocks_only: bool, dynamo_recompile_limit: int,
                              **_: Any) -> tuple:
    return (CompileArgs(backend, bool(fullgraph), mode, bool(dynamic), int(dynamo_cache_size_limit),
                        bool(compile_transformer_blocks_only), int(dynamo_recompile_limit)),)


@executor("WanVideoLoraSelect", prefetch=read_select_ahead)
def wanvideo_lora_select(ctx: ExecContext, lora: str, strength: float, *, prev_lora: Any = None,
                         blocks: Any = None, low_mem_load: bool, **_: Any) -> tuple:
    path = resolve(ctx, "loras", lora, "lora")
    chain = list(prev_lora or [])
    if float(strength) != 0.0:
        chain.append(LoraSpec(path=path, strength=float(strength), low_mem_load=bool(low_mem_load),
                              blocks=lora_blocks(blocks)))
    return (tuple(chain),)
