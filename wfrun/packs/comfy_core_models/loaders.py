"""ComfyUI's core loaders for Wan: UNETLoader, VAELoader, LoraLoaderModelOnly, LoraLoader.

- ``UNETLoader`` reads any Wan transformer file (ComfyUI's repacks with their
  ``model.diffusion_model.`` prefix and fp8-scaled weights, Kijai's and the official
  layouts) into diffusers' ``WanTransformer3DModel`` and names its family
  (:mod:`wfrun.models.families`). ``weight_dtype`` ``default`` keeps the file's storage
  (fp8 stays fp8); the fp8 choices store the block linears in that format. Compute runs in
  bf16 on a GPU and fp32 on the CPU, as ComfyUI picks for a device without fast bf16.
- The sampling shift starts at ComfyUI's Wan default (8.0, every Wan 2.1/2.2 entry of its
  supported models) until ``ModelSamplingSD3`` sets it.
- LoRA loaders add a patch (see :mod:`.types`): nothing is merged until a sampler runs,
  so the unpatched model stays usable by other nodes. The file is checked against the
  model right away (names only), so a LoRA for another family fails here, on its node.
  ``LoraLoader``'s CLIP half: Wan LoRAs carry no UMT5 layers; a file that does is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from wfrun.models.header import CheckpointError
from wfrun.models.lora_files import LoraError, check_fits, lora_module_names, prefetch
from wfrun.models.lora_read import no_release
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.lora_ahead import merge_model_loras_ahead
from wfrun.nodes.models import load_core_model, loading_error, resolve, wan_compute_dtype
from wfrun.sampling.ksampler import WAN_DEFAULT_SHIFT
from wfrun.packs.comfy_core_models.types import CoreModel, LoraPatch, WanTextEncoder, WanVAE

WEIGHT_DTYPES = {"default": "auto", "fp8_e4m3fn": "fp8_e4m3fn", "fp8_e4m3fn_fast": "fp8_e4m3fn",
                 "fp8_e5m2": "fp8_e5m2"}


@executor("UNETLoader", background=True)
def unet_loader(ctx: ExecContext, unet_name: str, weight_dtype: str, **_: Any) -> tuple:
    if weight_dtype not in WEIGHT_DTYPES:
        raise NodeInputError("weight_dtype", f"unknown weight dtype {weight_dtype!r}", f"use one of {', '.join(WEIGHT_DTYPES)}")
    path = resolve(ctx, "diffusion_models", unet_name, "unet_name", "unet")
    if path.suffix.lower() == ".gguf":
        raise NodeInputError("unet_name", "UNETLoader does not load GGUF models (ComfyUI lists none for it)",
                             "load it with ComfyUI-GGUF's UnetLoaderGGUF, or use the .safetensors release")
    return (core_model(ctx, path, "unet_name", weight_dtype),)


def core_model(ctx: ExecContext, path: Path, input_name: str, weight_dtype: str) -> CoreModel:
    """The MODEL of a Wan transformer file (or of an all-in-one checkpoint's transformer), a
    load failure named on ``input_name`` (``nodes.models.load_core_model``, shared with
    other packs' loaders)."""
    return load_core_model(ctx, path, input_name, quantization=WEIGHT_DTYPES[weight_dtype], shift=WAN_DEFAULT_SHIFT,
                           fast_choice=weight_dtype)


@executor("VAELoader", background=True)
def vae_loader(ctx: ExecContext, vae_name: str, **_: Any) -> tuple:
    from wfrun.models.load import load_vae

    path = resolve(ctx, "vae", vae_name, "vae_name")
    dtype = wan_compute_dtype(ctx.device)
    try:
        vae = load_vae(path, dtype=dtype, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        raise loading_error("vae_name", err) from None
    vae.eval().requires_grad_(False)
    return (WanVAE(vae=vae, dtype=dtype, path=path),)


def _add_lora(ctx: ExecContext, model: Any, lora_name: str, strength: float) -> CoreModel:
    if not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from UNETLoader, got {type(model).__name__}")
    path = resolve(ctx, "loras", lora_name, "lora_name")
    try:
        check_fits(model.transformer, path)
    except (LoraError, CheckpointError) as err:
        raise NodeInputError("lora_name", str(err)) from None
    if strength == 0:
        return model
    return model.patched(loras=model.loras + (LoraPatch(path=path, strength=float(strength)),))


def read_lora_ahead(ctx: ExecContext, constants: dict[str, Any]) -> Callable[[], None]:
    """The LoRA loaders' prefetch: the file its sampler will merge, read while the run's
    first nodes work (``models.lora_files.prefetch``)."""
    name = constants.get("lora_name")
    if not isinstance(name, str):  # linked: known only at its turn
        return no_release
    return prefetch(resolve(ctx, "loras", name, "lora_name"), constants.get("strength_model"))


@executor("LoraLoaderModelOnly", prefetch=read_lora_ahead, ahead=merge_model_loras_ahead)
def lora_loader_model_only(ctx: ExecContext, model: CoreModel, lora_name: str, strength_model: float,
                           **_: Any) -> tuple:
    return (_add_lora(ctx, model, lora_name, strength_model),)


@executor("LoraLoader", prefetch=read_lora_ahead, ahead=merge_model_loras_ahead)
def lora_loader(ctx: ExecContext, model: CoreModel, clip: WanTextEncoder, lora_name: str, strength_model: float,
                strength_clip: float, **_: Any) -> tuple:
    patched = _add_lora(ctx, model, lora_name, strength_model)
    if strength_clip != 0:
        path = resolve(ctx, "loras", lora_name, "lora_name")
        text_layers = sorted(n for n in lora_module_names(path) if n.startswith(("text_encoder", "te_", "lora_te")))
        if text_layers:
            raise NodeInputError("strength_clip", f"{path.name} has {len(text_layers)} text-encoder layers, which "
                                 "wfrun does not apply to UMT5", "set strength_clip to 0")
    return (patched, clip)
