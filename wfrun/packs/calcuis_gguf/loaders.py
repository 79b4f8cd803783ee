"""calcuis' ``LoaderGGUF``, ``LoaderGGUFAdvanced`` and ``ClipLoaderGGUF`` (titles "GGUF
Loader", "GGUF Loader (Advanced)", "GGUF CLIP Loader").

Read in ``pig.py`` at b05e746 (release 2.3.5, 2025-08-05, what the set-6 files were saved
with; 2.3.2 to 2.3.6 and the later releases up to 34944aa load the same way):

- ``LoaderGGUF`` lists the ``.gguf`` files of the diffusion-model folders (its
  ``model_gguf`` key: ``diffusion_models``/``unet``), reads the file with the same GGUF
  reader and GGML linear layers as city96's ComfyUI-GGUF, and builds ComfyUI's model from
  the tensor names. So it is city96's ``UnetLoaderGGUF`` under another name, and wfrun runs
  it through the same shared loader (``nodes.models.load_gguf_core_model``): a Wan transformer, quantized
  layers dequantized at each forward. Another architecture (the pack reads Flux, Qwen-Image,
  LTXV…) is refused by the shared loader, naming the file.
- ``LoaderGGUFAdvanced`` adds ``dequant_dtype`` (``default``, ``target`` or a dtype, as
  city96's advanced loader) and the LoRA patch options, handled as ``UnetLoaderGGUFAdvanced``
  handles them.
- ``ClipLoaderGGUF`` lists the text-encoder folders' files (``.gguf`` and others), reads a
  ``.gguf`` T5 with llama.cpp's names renamed to ComfyUI's (the same map as city96's
  ``T5_SD_MAP``, kept in the pack's ``version.json``) and any other file as CLIPLoader does,
  for the ``type`` asked; like city96's loader it rebuilds a UMT5 GGUF's tokenizer from the
  file's metadata, where wfrun finds the tokenizer as for CLIPLoaderGGUF. wfrun runs
  Wan, so only ``type`` ``wan`` (UMT5-XXL) is loaded. ``device`` (``default``/``cpu``, for a
  day ``fp8``) only says where the encoder is kept: on a GGUF file the pack ignores it; on a
  safetensors file ``cpu`` keeps it on the CPU. wfrun keeps text encoders on the offload
  device between uses whatever it says, as for CLIPLoader; the numbers do not change.
"""

from __future__ import annotations

from typing import Any

from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import load_gguf_clip, load_gguf_core_model
from wfrun.sampling.ksampler import WAN_DEFAULT_SHIFT

DEVICES = ("default", "cpu", "fp8")


def load_unet(ctx: ExecContext, gguf_name: str, dequant_dtype: str = "default") -> CoreModel:
    """The MODEL of a GGUF Wan transformer, read as ComfyUI-GGUF's UnetLoaderGGUF reads it
    (the shared ``nodes.models.load_gguf_core_model``; packs do not import each other)."""
    return load_gguf_core_model(ctx, gguf_name, "gguf_name", shift=WAN_DEFAULT_SHIFT, dequant_dtype=dequant_dtype)


@executor("LoaderGGUF", background=True, gguf_inputs=("gguf_name",))
def loader_gguf(ctx: ExecContext, gguf_name: str, **_: Any) -> tuple:
    return (load_unet(ctx, gguf_name),)


@executor("LoaderGGUFAdvanced", background=True, gguf_inputs=("gguf_name",))
def loader_gguf_advanced(ctx: ExecContext, gguf_name: str, dequant_dtype: str, **_: Any) -> tuple:
    from wfrun.models.load_gguf import DEQUANT_DTYPES

    if dequant_dtype not in DEQUANT_DTYPES:
        raise NodeInputError("dequant_dtype", f"unknown dequant_dtype {dequant_dtype!r}",
                             f"use one of {', '.join(DEQUANT_DTYPES)}")
    return (load_unet(ctx, gguf_name, dequant_dtype),)


@executor("ClipLoaderGGUF", background=True, gguf_inputs=("clip_name",))
def clip_loader_gguf_calcuis(ctx: ExecContext, clip_name: str, type: str = "stable_diffusion",
                             device: str = "default", **_: Any) -> tuple:
    if device not in DEVICES:
        raise NodeInputError("device", f"unknown device {device!r}", f"use one of {', '.join(DEVICES[:2])}")
    if type != "wan":
        raise NodeInputError("type", f"ClipLoaderGGUF type {type!r} is not supported by wfrun", "wfrun runs Wan ('wan')")
    return (load_gguf_clip(ctx, clip_name),)
