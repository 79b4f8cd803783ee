"""KJNodes' DiffusionModelLoaderKJ and GGUFLoaderKJ (``nodes/model_optimization_nodes.py``).

DiffusionModelLoaderKJ is ComfyUI's
UNETLoader with run-time options, loaded through the same code path as UNETLoader
(``nodes.models.load_core_model``), so the MODEL is the same value.

- ``weight_dtype``: ``default`` keeps the file's storage, the fp8 choices store the block
  linears in that format (``fp8_e4m3fn_fast`` also makes their matmuls fp8, as UNETLoader's
  does); ``fp16``, ``bf16``, ``fp32`` (and the early ``fp16_fast``: fp16 plus fp16
  accumulation) store every weight in that dtype: wfrun keeps weights in the compute dtype,
  so they set the compute dtype too unless ``compute_dtype`` names another.
- ``compute_dtype`` other than ``default`` sets the dtype the model computes in. On the CPU
  wfrun computes in fp32 whatever is asked (as its UNETLoader does there), since half
  precision on the CPU is slow and only changes rounding.
- ``sage_attention`` other than ``disabled`` (or ``true`` in the first revision) is
  PathchSageAttentionKJ's choice: diffusers' ``sage`` backend where the package and a CUDA
  device are there, else a notice and PyTorch's SDPA.
- ``enable_fp16_accumulation`` is ModelPatchTorchSettings' switch, held while the model samples.
- ``patch_cublaslinear`` (ComfyUI's ``cublas_ops`` fp16 linear kernels) is a speed option
  that wfrun does not have; the numbers are those of PyTorch's linear, so it is ignored.
- ``extra_state_dict`` (the pack takes a full path, from DiffusionModelSelector, to a file
  merged over the model's weights: its documented use is adding a VACE module to a Wan
  model) is looked up by name in the ``diffusion_models`` folders only (a path outside the
  model folders is never opened) and laid over the model as a VACE module
  (``models.vace_module``); another kind of file is refused.

GGUFLoaderKJ is ComfyUI-GGUF's loader with run-time options, loaded through the same code
path as UnetLoaderGGUF (``nodes.models.load_gguf_core_model``), so the MODEL is the same value:

- ``dequant_dtype`` as UnetLoaderGGUFAdvanced's (``default``: fp16, ``target``: the compute
  dtype, or the dtype named); ``patch_dtype`` and ``patch_on_device`` say where and in what
  precision ComfyUI-GGUF adds LoRA patches, which wfrun merges in fp32 on the sampling
  device whatever they say (as for UnetLoaderGGUFAdvanced).
- ``extra_model_name`` (not ``none``): a second GGUF file from the same folders merged over
  the model's weights (the pack's ``sd.update``), its documented use a VACE module: it is
  laid over the model as one (``models.vace_module``); the pack refuses a name not ending
  in ``.gguf``, and so does wfrun.
- ``attention_override``: ``sdpa`` is PyTorch's attention (wfrun's own), ``sageattn``,
  ``flashattn`` and ``xformers`` diffusers' backends of those libraries where they and a
  CUDA device are there, else a notice and PyTorch's SDPA; ``none`` keeps the default.
- ``enable_fp16_accumulation``: held while the model samples, as DiffusionModelLoaderKJ's.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import load_core_model, load_gguf_core_model, resolve
from wfrun.sampling.attention import usable_backend
from wfrun.sampling.ksampler import WAN_DEFAULT_SHIFT

#: weight_dtype → (models.load quantization, storage/compute dtype or None, fp16 accumulation)
WEIGHT_CHOICES: dict[str, tuple[str, torch.dtype | None, bool]] = {
    "default": ("auto", None, False),
    "fp8_e4m3fn": ("fp8_e4m3fn", None, False),
    "fp8_e4m3fn_fast": ("fp8_e4m3fn", None, False),
    "fp8_e5m2": ("fp8_e5m2", None, False),
    "fp16": ("none", torch.float16, False),
    "fp16_fast": ("none", torch.float16, True),
    "bf16": ("none", torch.bfloat16, False),
    "fp32": ("none", torch.float32, False),
}
COMPUTE_DTYPES = {"default": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
MODEL_FOLDERS = ("diffusion_models", "unet")


def _extra_name(value: str) -> str:
    """The part of a full path after its models folder (``…/diffusion_models/a/b.safetensors``
    → ``a/b.safetensors``), or the file name; the name is then found in wfrun's own folders."""
    parts = PurePath(value.replace("\\", "/")).parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in MODEL_FOLDERS:
            return "/".join(parts[i + 1:])
    return parts[-1] if parts else value


@executor("DiffusionModelLoaderKJ")
def diffusion_model_loader_kj(ctx: ExecContext, weight_dtype: str, compute_dtype: str, sage_attention: Any,
                              enable_fp16_accumulation: bool, model_name: str | None = None,
                              ckpt_name: str | None = None, extra_state_dict: str | None = None,
                              **_: Any) -> tuple:
    """``ckpt_name`` is the first revisions' name of ``model_name``; inputs those revisions
    lacked arrive at the newest defaults, as the engine fills them."""
    name = model_name if model_name is not None else ckpt_name
    input_name = "model_name" if model_name is not None else "ckpt_name"
    if not name:
        raise NodeInputError(input_name, "no model file chosen", "pick the Wan transformer file")
    if weight_dtype not in WEIGHT_CHOICES:
        raise NodeInputError("weight_dtype", f"unknown weight dtype {weight_dtype!r}",
                             f"use one of {', '.join(WEIGHT_CHOICES)}")
    if compute_dtype not in COMPUTE_DTYPES:
        raise NodeInputError("compute_dtype", f"unknown compute dtype {compute_dtype!r}",
                             f"use one of {', '.join(COMPUTE_DTYPES)}")
    quantization, stored, fp16_accumulation = WEIGHT_CHOICES[weight_dtype]
    dtype = COMPUTE_DTYPES[compute_dtype] or stored
    if not str(ctx.device).startswith("cuda"):
        dtype = None  # the device's own choice (fp32 on the CPU)
    path = resolve(ctx, "diffusion_models", name, input_name, "unet")
    if path.suffix.lower() == ".gguf":
        raise NodeInputError(input_name, "DiffusionModelLoaderKJ does not load GGUF models",
                             "load it with ComfyUI-GGUF's UnetLoaderGGUF, or use the .safetensors release")
    extra = ()
    if extra_state_dict:
        extra = (resolve(ctx, "diffusion_models", _extra_name(str(extra_state_dict)), "extra_state_dict", "unet"),)
    model = load_core_model(ctx, path, input_name, quantization=quantization, shift=WAN_DEFAULT_SHIFT,
                            fast_choice=weight_dtype, dtype=dtype, extra_modules=extra)
    changes: dict[str, Any] = {}
    if enable_fp16_accumulation or fp16_accumulation:
        changes["fp16_accumulation"] = True
    if sage_attention not in ("disabled", False, None):
        backend = usable_backend("sage", "sageattention", ctx.device, f"SageAttention ({sage_attention})")
        if backend != "native":
            changes["attention"] = backend
    return (dataclasses.replace(model, **changes) if changes else model,)


#: GGUFLoaderKJ's attention_override → (diffusers backend, package it needs)
ATTENTION_OVERRIDES = {"sdpa": ("native", None), "sageattn": ("sage", "sageattention"),
                       "flashattn": ("flash", "flash_attn"), "xformers": ("xformers", "xformers")}


@executor("GGUFLoaderKJ", gguf_inputs=("model_name", "extra_model_name"))
def gguf_loader_kj(ctx: ExecContext, model_name: str, extra_model_name: str, dequant_dtype: str, patch_dtype: str,
                   patch_on_device: bool, enable_fp16_accumulation: bool, attention_override: str,
                   **_: Any) -> tuple:
    from wfrun.models.load_gguf import DEQUANT_DTYPES

    if dequant_dtype not in DEQUANT_DTYPES:
        raise NodeInputError("dequant_dtype", f"unknown dequant_dtype {dequant_dtype!r}",
                             f"use one of {', '.join(DEQUANT_DTYPES)}")
    if attention_override != "none" and attention_override not in ATTENTION_OVERRIDES:
        raise NodeInputError("attention_override", f"unknown attention_override {attention_override!r}",
                             f"use none or one of {', '.join(ATTENTION_OVERRIDES)}")
    extra = ()
    if extra_model_name not in (None, "", "none"):
        if not str(extra_model_name).endswith(".gguf"):
            raise NodeInputError("extra_model_name", f"{extra_model_name} is not a .gguf file (the pack refuses it "
                                 "too: 'Extra model must also be a .gguf file')", "pick the module's .gguf release")
        extra = (resolve(ctx, "unet_gguf", str(extra_model_name), "extra_model_name"),)
    model = load_gguf_core_model(ctx, model_name, "model_name", shift=WAN_DEFAULT_SHIFT, dequant_dtype=dequant_dtype,
                                 extra_modules=extra)
    changes: dict[str, Any] = {}
    if enable_fp16_accumulation:
        changes["fp16_accumulation"] = True
    if attention_override in ATTENTION_OVERRIDES:
        backend = usable_backend(*ATTENTION_OVERRIDES[attention_override], ctx.device,
                                 f"attention_override {attention_override}")
        if backend != "native":
            changes["attention"] = backend
    return (dataclasses.replace(model, **changes) if changes else model,)
