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
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

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
    if not str(ctx.device).startswith("cuda") or importlib.util.find_spec("sageattention") is None:
        log.info("SageAttention (%s) is not available here; the model keeps PyTorch's SDPA", sage_attention)
        return (model,)
    return (dataclasses.replace(model, attention="sage"),)


@executor("ModelPatchTorchSettings")
def model_patch_torch_settings(ctx: ExecContext, model: Any, enable_fp16_accumulation: bool, **_: Any) -> tuple:
    return (dataclasses.replace(_model(model), fp16_accumulation=bool(enable_fp16_accumulation)),)


@executor("TorchCompileModelWanVideoV2")
def torch_compile_model_wan(ctx: ExecContext, model: Any, backend: str, fullgraph: bool, mode: str, dynamic: bool,
                            compile_transformer_blocks_only: bool, dynamo_cache_size_limit: int, **_: Any) -> tuple:
    settings = {"backend": backend, "fullgraph": bool(fullgraph), "mode": mode, "dynamic": bool(dynamic),
                "blocks_only": bool(compile_transformer_blocks_only), "cache_size_limit": int(dynamo_cache_size_limit)}
    return (dataclasses.replace(_model(model), compile=settings),)
