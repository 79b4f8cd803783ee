"""CheckpointLoaderSimple: one file holding a model, its text encoder and maybe its VAE.

wfrun reads two kinds of such files (anything else is refused on ``ckpt_name``, saying what
the file is and which loader reads it):

- SAM 3.1 (ComfyUI's ``sam3.1_multiplex_fp16.safetensors``): MODEL is the segmenter
  (:class:`~wfrun.packs.comfy_core_models.types.Sam3Model`, for SAM3_Detect), CLIP its CLIP
  text encoder with the CLIP BPE tokenizer (found offline beside the file, in ComfyUI's
  ``comfy/sd1_tokenizer`` or the Hugging Face cache; a missing tokenizer is reported when a
  text is encoded), VAE ``None`` (ComfyUI: "no VAE weights detected").
- a Wan all-in-one checkpoint (transformer under ``model.diffusion_model.``, UMT5 under
  ``text_encoders.…``, VAE under ``vae.``/``first_stage_model.``): the same MODEL, CLIP and
  VAE that UNETLoader (``weight_dtype`` default), CLIPLoader and VAELoader give for the
  separate files; a part the file lacks is ``None``, as in ComfyUI.
"""

from __future__ import annotations

from typing import Any

from wfrun.models.header import CheckpointError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve, roots_of, wan_compute_dtype
from wfrun.packs.comfy_core_models.loaders import core_model
from wfrun.packs.comfy_core_models.text import MIN_LENGTH
from wfrun.packs.comfy_core_models.types import Sam3Clip, Sam3Model, WanTextEncoder, WanVAE


@executor("CheckpointLoaderSimple")
def checkpoint_loader_simple(ctx: ExecContext, ckpt_name: str, **_: Any) -> tuple:
    from wfrun.models.detect import KIND_FOLDERS, identify
    from wfrun.models.reader import open_checkpoint

    path = resolve(ctx, "checkpoints", ckpt_name, "ckpt_name")
    if path.suffix.lower() == ".gguf":
        raise NodeInputError("ckpt_name", "GGUF files are not supported by wfrun", "use the .safetensors release")
    try:
        with open_checkpoint(path) as reader:
            info = identify(reader.path, reader.tensors, reader.metadata)
    except CheckpointError as err:
        raise loading_error("ckpt_name", err) from None
    if info.kind == "sam3":
        return _sam3(ctx, path)
    if info.kind == "wan_transformer" and info.prefix:
        return _wan_all_in_one(ctx, path)
    folder = KIND_FOLDERS.get(info.kind)
    where = f"; it belongs in models/{folder} and its own loader" if folder and info.kind != "wan_transformer" else \
        "; load it with UNETLoader from models/diffusion_models" if info.kind == "wan_transformer" else ""
    raise NodeInputError("ckpt_name", f"{path.name} is {info.label}, which CheckpointLoaderSimple in wfrun does not "
                         f"load (it loads SAM 3.1 checkpoints and Wan all-in-one checkpoints){where}")


def _sam3(ctx: ExecContext, path) -> tuple:
    from wfrun.models.sam3 import load_sam3
    from wfrun.models.tokenizer import TokenizerError, load_clip_tokenizer

    dtype = wan_compute_dtype(ctx.device)
    try:
        segmenter = load_sam3(path, dtype=dtype, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("ckpt_name", err) from None
    tokenizer, problem = None, None
    try:
        tokenizer = load_clip_tokenizer(path, vocab_size=segmenter.configs.detector.text_config.vocab_size,
                                        roots=roots_of(ctx))
    except TokenizerError as err:
        problem = str(err)
    model = Sam3Model(segmenter=segmenter, dtype=dtype, path=path, offload_device=ctx.offload_device)
    clip = Sam3Clip(segmenter=segmenter, tokenizer=tokenizer, dtype=dtype, path=path,
                    offload_device=ctx.offload_device, tokenizer_error=problem)
    return (model, clip, None)


def _wan_all_in_one(ctx: ExecContext, path) -> tuple:
    from wfrun.models.detect import identify_part
    from wfrun.models.load import load_vae
    from wfrun.models.reader import open_checkpoint
    from wfrun.nodes.models import load_umt5

    model = core_model(ctx, path, "ckpt_name", "default")
    with open_checkpoint(path) as reader:
        has_text = identify_part(reader.path, reader.tensors, reader.metadata, "umt5") is not None
        has_vae = identify_part(reader.path, reader.tensors, reader.metadata, "wan_vae") is not None
    clip = vae = None
    if has_text:
        encoder, tokenizer = load_umt5(ctx, path, "ckpt_name", device=ctx.offload_device)
        dtype = next(p.dtype for p in encoder.parameters() if p.is_floating_point())
        clip = WanTextEncoder(encoder=encoder, tokenizer=tokenizer, dtype=dtype, load_device=ctx.device,
                              offload_device=ctx.offload_device, text_len=MIN_LENGTH, path=path)
    if has_vae:
        dtype = wan_compute_dtype(ctx.device)
        try:
            loaded = load_vae(path, dtype=dtype, device=ctx.offload_device)
        except (CheckpointError, ValueError) as err:
            raise loading_error("ckpt_name", err) from None
        vae = WanVAE(vae=loaded.eval().requires_grad_(False), dtype=dtype, path=path)
    return (model, clip, vae)
