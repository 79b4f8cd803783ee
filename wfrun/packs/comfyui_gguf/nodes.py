"""ComfyUI-GGUF's loaders: ``UnetLoaderGGUF``, ``UnetLoaderGGUFAdvanced``, ``CLIPLoaderGGUF``.

Where this lives, and why: ComfyUI-GGUF is a node pack of its own (its specs are
``schemas/nodes/ComfyUI-GGUF.json``, its nodes carry its ``cnr_id``), so its executors are a
pack of their own, beside ComfyUI's core ones rather than inside them. What it shares with
the core pack sits below both: the MODEL and CLIP values (``CoreModel``, ``WanTextEncoder``
in ``models.handles``), the file and error helpers (``nodes.models``) and the GGUF reading
and loading itself (``models.gguf_reader``, ``models.load_gguf``), which any pack's loader
can call. So a GGUF MODEL is the very value UNETLoader gives: KSampler, ModelSamplingSD3,
the LoRA loaders and the guidance patches of the core pack take it unchanged.

What the nodes do, against ComfyUI-GGUF (HEAD 795e451, 2025-12-18):

- ``UnetLoaderGGUF`` reads a GGUF Wan transformer (``general.architecture`` ``wan``, the
  original Wan key names, optionally under ``model.diffusion_model.``) into diffusers'
  ``WanTransformer3DModel``. Quantized linear weights stay quantized (diffusers'
  ``GGUFParameter`` in a ``GGUFLinear``) and are dequantized layer by layer at each forward,
  as ComfyUI-GGUF's ``GGMLOps.Linear`` does; F32/F16/BF16 tensors load as plain weights.
  Compute runs in bf16 on a GPU and fp32 on the CPU, as UNETLoader's does. The sampling
  shift starts at ComfyUI's Wan default, as for UNETLoader.
- ``UnetLoaderGGUFAdvanced``: ``dequant_dtype`` is honoured (``default``: in fp16, the
  scales' precision, as both ComfyUI-GGUF and diffusers do; ``target``: in the compute
  dtype; or the dtype named). ``patch_dtype`` and ``patch_on_device`` say where and in what
  precision ComfyUI-GGUF adds LoRA patches to the dequantized weights; wfrun merges a LoRA
  into a GGUF layer for the sampling pass in fp32 (ComfyUI-GGUF's ``default``), whatever
  ``patch_dtype`` says, on the device the model samples on.
- LoRAs (LoraLoaderModelOnly) on a GGUF model: ComfyUI-GGUF keeps each patch beside its
  quantized weight and adds it after every dequantization; wfrun gives each patched layer,
  for the sampling pass, a plain weight (dequantized, plus the LoRA delta, in the compute
  dtype) and restores the quantized one after. Same numbers; the patched layers take their
  full-precision size in memory while sampling.
- ``CLIPLoaderGGUF`` loads a UMT5-XXL encoder for ``type`` ``wan``: a GGUF file (llama.cpp's
  T5 names, renamed as ComfyUI-GGUF's ``T5_SD_MAP`` does) or, as the pack allows, any file
  CLIPLoader reads. ComfyUI-GGUF rebuilds the sentencepiece tokenizer of a UMT5 GGUF from
  its ``tokenizer.ggml.*`` metadata; wfrun does not, and finds the tokenizer as for any
  encoder file without one (``models.tokenizer``: beside the file, a ``umt5-xxl/`` folder,
  the WanVideoWrapper's copy, the Hugging Face cache).
- ``DualCLIPLoaderGGUF``, ``TripleCLIPLoaderGGUF`` and ``QuadrupleCLIPLoaderGGUF`` load the
  text encoders of other model families (SDXL, SD3, Flux, HiDream) and have specs only.
"""

from __future__ import annotations

from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import load_gguf_clip, load_gguf_core_model
from wfrun.sampling.ksampler import WAN_DEFAULT_SHIFT


def load_unet(ctx: ExecContext, unet_name: str, dequant_dtype: str = "default") -> CoreModel:
    """The MODEL of a GGUF Wan transformer (``nodes.models.load_gguf_core_model``)."""
    return load_gguf_core_model(ctx, unet_name, "unet_name", shift=WAN_DEFAULT_SHIFT, dequant_dtype=dequant_dtype)


@executor("UnetLoaderGGUF", background=True, gguf_inputs=("unet_name",))
def unet_loader_gguf(ctx: ExecContext, unet_name: str, **_: Any) -> tuple:
    return (load_unet(ctx, unet_name),)


@executor("UnetLoaderGGUFAdvanced", gguf_inputs=("unet_name",))
def unet_loader_gguf_advanced(ctx: ExecContext, unet_name: str, dequant_dtype: str, patch_dtype: str,
                              patch_on_device: bool, **_: Any) -> tuple:
    from wfrun.models.load_gguf import DEQUANT_DTYPES

    if dequant_dtype not in DEQUANT_DTYPES:
        raise NodeInputError("dequant_dtype", f"unknown dequant_dtype {dequant_dtype!r}",
                             f"use one of {', '.join(DEQUANT_DTYPES)}")
    return (load_unet(ctx, unet_name, dequant_dtype),)


@executor("CLIPLoaderGGUF", background=True, gguf_inputs=("clip_name",))
def clip_loader_gguf(ctx: ExecContext, clip_name: str, type: str = "stable_diffusion", **_: Any) -> tuple:
    if type != "wan":
        raise NodeInputError("type", f"CLIPLoaderGGUF type {type!r} is not supported by wfrun", "wfrun runs Wan ('wan')")
    return (load_gguf_clip(ctx, clip_name),)
