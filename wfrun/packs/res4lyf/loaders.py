"""RES4LYF's all-in-one loader (ClownModelLoader) and its TorchCompileModels.

ClownModelLoader (``loaders.RES4LYFModelLoader``) loads a model, up to four text encoders
and a VAE in one node. wfrun runs it on its own core loaders, found in the executor registry
(packs never import each other), the way the pack does it:

- ``model_name`` is looked up in ``checkpoints`` first, then in ``diffusion_models``. A
  checkpoint goes through CheckpointLoaderSimple (its CLIP and VAE then serve
  ``.use_ckpt_clip`` / ``.use_ckpt_vae``); a diffusion model through UNETLoader with the
  node's ``weight_dtype`` (the same four choices).
- ``clip_name1_opt``: ``.none`` gives no CLIP, ``.use_ckpt_clip`` the checkpoint's (an error
  when it has none, or when another text encoder is also named, as the pack raises), a file
  CLIPLoader with ``clip_type`` (``.auto``: the model's own type; every model wfrun loads is
  Wan, so ``wan``).
- ``vae_name``: ``.none`` gives no VAE, ``.use_ckpt_vae`` the checkpoint's, a file VAELoader.

Refused by name, not run: a second text encoder (``clip_name2_opt``-``4_opt``; Wan uses
one), the TAESD approximations (``taesd``...: image-model previews, not Wan VAEs), and a
``weight_dtype`` other than ``default`` on a checkpoint (CheckpointLoaderSimple in wfrun keeps
the file's storage).

TorchCompileModels compiles each block of the model's block lists one by one; for Wan
those are ``blocks``, the same as KJNodes' compile with ``compile_transformer_blocks_only``,
so it sets the MODEL's compile settings with ``blocks_only``. ``triton_max_block_x`` sets
an environment variable for Triton in the pack and changes no result; it is not applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.models.paths import ModelPathError, find_model
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.nodes.models import roots_of

TAESD = ("taesd", "taesdxl", "taesd3", "taef1")
WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")
COMPILE_BACKENDS = ("inductor", "cudagraphs")
COMPILE_MODES = ("default", "max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead")


def _core(class_type: str) -> Any:
    return builtin_executor(class_type, "model_name")


def _in_checkpoints(ctx: ExecContext, name: str) -> bool:
    try:
        find_model(roots_of(ctx), "checkpoints", name)
    except (ModelPathError, ValueError):
        return False
    return True


@executor("ClownModelLoader", background=True)
def clown_model_loader(ctx: ExecContext, model_name: str, weight_dtype: str, clip_name1_opt: str,
                       clip_name2_opt: str, clip_name3_opt: str, clip_name4_opt: str, clip_type: str,
                       vae_name: str, **_: Any) -> tuple:
    more_clips = [(name, value) for name, value in (("clip_name2_opt", clip_name2_opt),
                                                    ("clip_name3_opt", clip_name3_opt),
                                                    ("clip_name4_opt", clip_name4_opt)) if value != ".none"]
    if clip_name1_opt == ".use_ckpt_clip" and more_clips:
        raise NodeInputError(more_clips[0][0], 'cannot use both ".use_ckpt_clip" and another text encoder '
                             "(the pack raises the same)", f"set {more_clips[0][0]} to .none")
    if more_clips:
        raise NodeInputError(more_clips[0][0], "a second text encoder is not supported in wfrun (Wan uses one)",
                             f"set {more_clips[0][0]} to .none")
    if weight_dtype not in WEIGHT_DTYPES:
        raise NodeInputError("weight_dtype", f"unknown weight dtype {weight_dtype!r}",
                             f"use one of {', '.join(WEIGHT_DTYPES)}")
    if vae_name in TAESD:
        raise NodeInputError("vae_name", f"the {vae_name} preview decoder is an image-model approximation, "
                             "not a Wan VAE; wfrun does not load it", "pick the Wan VAE file")

    checkpoint = _in_checkpoints(ctx, model_name)
    ckpt_clip = ckpt_vae = None
    if checkpoint:
        if weight_dtype != "default":
            raise NodeInputError("weight_dtype", f"weight_dtype {weight_dtype!r} on a checkpoint is not supported in "
                                 "wfrun (its checkpoint loader keeps the file's storage)", "use default")
        model, ckpt_clip, ckpt_vae = _core("CheckpointLoaderSimple")(ctx, ckpt_name=model_name)
    else:
        (model,) = _core("UNETLoader")(ctx, unet_name=model_name, weight_dtype=weight_dtype)

    if clip_name1_opt == ".none":
        clip = None
    elif clip_name1_opt == ".use_ckpt_clip":
        if ckpt_clip is None:
            raise NodeInputError("clip_name1_opt", f"{model_name} has no text encoder (the pack: \"Model does not "
                                 "have a clip\")", "pick the text encoder file")
        clip = ckpt_clip
    else:
        kind = "wan" if clip_type == ".auto" else clip_type
        (clip,) = _core("CLIPLoader")(ctx, clip_name=clip_name1_opt, type=kind)

    if vae_name == ".none":
        vae = None
    elif vae_name == ".use_ckpt_vae":
        if ckpt_vae is None:
            raise NodeInputError("vae_name", f"{model_name} has no VAE (the pack: \"Model does not have a VAE\")",
                                 "pick the VAE file")
        vae = ckpt_vae
    else:
        (vae,) = _core("VAELoader")(ctx, vae_name=vae_name)
    return model, clip, vae


@executor("TorchCompileModels")
def torch_compile_models(ctx: ExecContext, model: Any, backend: str, fullgraph: bool, mode: str, dynamic: bool,
                         dynamo_cache_size_limit: int, triton_max_block_x: int, **_: Any) -> tuple:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from a core loader, got {type(model).__name__}")
    if backend not in COMPILE_BACKENDS:
        raise NodeInputError("backend", f"unknown backend {backend!r}", f"use one of {', '.join(COMPILE_BACKENDS)}")
    if mode not in COMPILE_MODES:
        raise NodeInputError("mode", f"unknown mode {mode!r}", f"use one of {', '.join(COMPILE_MODES)}")
    settings = {"backend": backend, "fullgraph": bool(fullgraph), "mode": mode, "dynamic": bool(dynamic),
                "blocks_only": True, "cache_size_limit": int(dynamo_cache_size_limit)}
    return (dataclasses.replace(model, compile=settings),)
