"""Finding and loading model files from an executor: the run's model folders, a name
resolved as ComfyUI resolves it, and load failures turned into input errors that name the
node's input (shared by every pack whose nodes load weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.models.families import transformer_family
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots, find_model
from wfrun.nodes.executor import ExecContext, NodeInputError


def roots_of(ctx: ExecContext) -> ModelRoots:
    """The models folders of this run (``--models``, WFRUN_MODELS, extra_model_paths.yaml)."""
    if isinstance(ctx.models, ModelRoots):
        return ctx.models
    return ModelRoots.from_options(ctx.models)


def resolve(ctx: ExecContext, folder: str, name: str, input_name: str, *more: str, source: str | None = None) -> Path:
    """A model file by its widget value, or a NodeInputError saying where wfrun looked; with
    ``source`` (where the file is published), the hint says where to get it and where to put it."""
    roots = roots_of(ctx)
    try:
        return find_model(roots, folder, name)
    except ModelPathError as first:
        for other in more:
            try:
                return find_model(roots, other, name)
            except ModelPathError:
                pass
        if source is None:
            hint = "give the models folder with --models DIR (ComfyUI's models folder works as is)"
        else:
            searched = roots.folders(folder)
            target = searched[0] if searched else Path("<models>") / folder
            hint = (f"wfrun never downloads models: get {name} from {source} and put it in {target}, "
                    "or give the models folder with --models DIR")
        raise NodeInputError(input_name, str(first), hint) from None


def loading_error(input_name: str, err: Exception) -> NodeInputError:
    return NodeInputError(input_name, str(err).splitlines()[0])


def load_rife(ctx: ExecContext, folder: str, name: str, input_name: str, hint: str, arch: str | None = None) -> Any:
    """A RIFE IFNet from ``name`` in the models' ``folder`` (read weights-only), for the packs
    that run RIFE (Fannovel16's frame interpolation, GACLove's ComfyUI-VFI); refused on
    ``input_name`` where the file cannot be read (with ``hint``) or holds another network
    version than ``arch``, the one its pack builds."""
    from wfrun.models.rife import load_ifnet
    from wfrun.models.upscale import read_release_state_dict

    path = resolve(ctx, folder, name, input_name)
    try:
        net = load_ifnet(read_release_state_dict(path))
    except (CheckpointError, ValueError) as err:
        raise NodeInputError(input_name, f"{path}: {str(err).splitlines()[0]}", hint) from None
    if arch is not None and net.arch.name != arch:
        raise NodeInputError(input_name, f"{path.name} holds a RIFE {net.arch.name} network; its pack builds "
                             f"RIFE {arch}'s and would not load it", hint)
    return net


def wan_compute_dtype(device: Any) -> torch.dtype:
    """What ComfyUI computes Wan in on ``device``: bf16 on CUDA, fp32 on the CPU (as it picks
    for a device without fast bf16)."""
    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def runnable_family(path: Path, task: str, input_name: str) -> Any:
    """The transformer family of ``task`` (``models.families``), or a NodeInputError on
    ``input_name`` when wfrun cannot sample that family yet."""
    family = transformer_family(task)
    if family is None or not family.runs:
        what = family.label if family is not None else f"a transformer of an unknown family ({task})"
        raise NodeInputError(input_name, f"{path.name} is {what}, which wfrun cannot sample yet")
    if family.conditioning == "remover":  # ComfyUI's own Wan model builds cross-attention this file lacks
        raise NodeInputError(input_name, f"{path.name} is {family.label}: ComfyUI's core Wan model has no place for "
                             "a model without text embedding and cross-attention",
                             "load it with WanVideoModelLoader and sample it with WanVideoSampler and "
                             "WanVideoMiniMaxRemoverEmbeds")
    return family


def load_core_model(ctx: ExecContext, path: Path, input_name: str, *, quantization: str, shift: float,
                    fast_choice: str | None = None, dtype: torch.dtype | None = None,
                    extra_modules: tuple[Path, ...] = ()) -> Any:
    """The MODEL (``models.handles.CoreModel``) of a Wan transformer file, or of an all-in-one
    checkpoint's transformer, a load failure named on ``input_name``: the one code path of
    every loader that makes ComfyUI's MODEL (UNETLoader, KJNodes' DiffusionModelLoaderKJ).

    ``quantization`` as ``models.load.load_transformer`` takes it; ``fast_choice`` the
    loader's weight choice (an ``*_fast`` one makes the block matmuls fp8, as does ``--fast``);
    ``dtype`` the compute dtype (default: ComfyUI's for the device); ``extra_modules`` module
    files laid over the main file (VACE)."""
    from wfrun.models import residency
    from wfrun.models.detect import identify
    from wfrun.models.fast import make_fast, wants_fast
    from wfrun.models.handles import CoreModel
    from wfrun.models.load import load_transformer
    from wfrun.models.reader import open_checkpoint

    dtype = dtype or wan_compute_dtype(ctx.device)
    try:
        with open_checkpoint(path) as reader:
            task = identify(reader.path, reader.tensors, reader.metadata).task
        family = runnable_family(path, task, input_name)
        nbytes = path.stat().st_size + sum(Path(m).stat().st_size for m in extra_modules)
        with residency.load_target(nbytes, ctx.device, ctx.offload_device) as target:
            transformer = load_transformer(path, dtype=dtype, device=target, quantization=quantization,
                                           vace_modules=extra_modules)
        residency.track(transformer, target, ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        if isinstance(err, NodeInputError):
            raise
        raise loading_error(input_name, err) from None
    transformer.eval().requires_grad_(False)
    fast, _ = wants_fast(fast_choice, ctx.fast)
    if fast:  # LoRAs come later (LoraLoaderModelOnly), merged into the fp8 weights as ComfyUI patches them
        make_fast(transformer, ctx.device, compile_blocks=ctx.fast, fp8_attention=ctx.fp8_attention)
    return CoreModel.of_family(transformer, family, path, dtype, shift)


def load_gguf_clip(ctx: ExecContext, clip_name: str, input_name: str = "clip_name") -> Any:
    """The CLIP (a UMT5 text encoder with its tokenizer, kept in host memory between uses) of
    a GGUF or safetensors file in the text encoder folders: the one code path of the GGUF
    packs' CLIP loaders (ComfyUI-GGUF's CLIPLoaderGGUF, calcuis' ClipLoaderGGUF)."""
    from wfrun.models.handles import WanTextEncoder

    path = resolve(ctx, "clip_gguf", clip_name, input_name)
    encoder, tokenizer = load_umt5(ctx, path, input_name, gguf=True, device=ctx.offload_device)
    dtype = next(p.dtype for p in encoder.parameters() if p.is_floating_point())
    return WanTextEncoder(encoder=encoder, tokenizer=tokenizer, dtype=dtype, load_device=ctx.device,
                          offload_device=ctx.offload_device, path=path)


def load_gguf_core_model(ctx: ExecContext, name: str, input_name: str, *, shift: float,
                         dequant_dtype: str = "default", extra_modules: tuple[Path, ...] = ()) -> Any:
    """The MODEL of a GGUF Wan transformer (ComfyUI-GGUF's ``unet_gguf`` folders), on the
    run's offload device until a sampler runs: the one code path of the loaders that read
    GGUF into ComfyUI's MODEL (UnetLoaderGGUF and its kin, KJNodes' GGUFLoaderKJ). ``shift``
    the sampling shift it starts at; ``extra_modules``: GGUF VACE module files laid over the main file."""
    from wfrun.models.handles import CoreModel
    from wfrun.models.header import sniff
    from wfrun.models.load_gguf import gguf_info, load_gguf_transformer

    path = resolve(ctx, "unet_gguf", name, input_name)
    if sniff(path) != "gguf":
        raise NodeInputError(input_name, f"{path.name} is not a GGUF file",
                             f"load .safetensors models with UNETLoader; {input_name} takes the .gguf release")
    dtype = wan_compute_dtype(ctx.device)
    try:
        task = "vace" if extra_modules else gguf_info(path, ["wan_transformer"]).task
        family = runnable_family(path, task, input_name)
        transformer = load_gguf_transformer(path, dtype=dtype, device=ctx.offload_device, dequant_dtype=dequant_dtype,
                                            vace_modules=extra_modules)
    except (CheckpointError, ValueError) as err:
        if isinstance(err, NodeInputError):
            raise
        raise loading_error(input_name, err) from None
    transformer.eval().requires_grad_(False)
    return CoreModel.of_family(transformer, family, path, dtype, shift)


def load_umt5(ctx: ExecContext, path: Path, input_name: str, *, gguf: bool = False, **load_options: object) -> tuple:
    """A UMT5 encoder (in eval mode, no gradients) and its tokenizer, with a load failure
    named on ``input_name``: ComfyUI's CLIPLoader and the wrapper's T5 loader read the same
    files; ComfyUI-GGUF's CLIPLoaderGGUF (``gguf``) reads GGUF files too, whose tokenizer
    is searched for as for a file that carries none. Imported on use: transformers is slow
    to import and only runs need it."""
    from wfrun.models.header import sniff
    from wfrun.models.load import load_text_encoder
    from wfrun.models.tokenizer import TokenizerError, load_umt5_tokenizer

    try:
        if gguf and sniff(path) == "gguf":
            from wfrun.models.load_gguf import load_gguf_text_encoder

            encoder = load_gguf_text_encoder(path, **load_options)
            tokenizer = load_umt5_tokenizer(path, roots=roots_of(ctx), vocab_size=encoder.config.vocab_size)
        else:
            encoder = load_text_encoder(path, **load_options)
            tokenizer = load_umt5_tokenizer(path, roots=roots_of(ctx))
    except TokenizerError as err:
        raise NodeInputError(input_name, str(err)) from None
    except (CheckpointError, ValueError) as err:
        raise loading_error(input_name, err) from None
    return encoder.eval().requires_grad_(False), tokenizer
