"""KJNodes' DiffusionModelSelector (``nodes/model_optimization_nodes.py``) and VAELoaderKJ
(``nodes/nodes.py``).

* DiffusionModelSelector gives the full path of the chosen model file as text, for another
  node's path input (DiffusionModelLoaderKJ's ``extra_state_dict``). A name with
  "connector" in it (case-insensitive) is looked up in ``text_encoders`` (the pack's LTX-2
  connector models), any other in ``diffusion_models`` (and ComfyUI's older ``unet``); a
  file not there is an error naming ``model_name``, as the pack's ``get_full_path_or_raise``.
* VAELoaderKJ loads the Wan VAE through the core VAELoader's executor (the same loading
  path and value), then keeps it in ``weight_dtype`` on a CUDA device; on the CPU wfrun
  computes in fp32 whatever is asked (as its other loaders do there), since half precision
  on the CPU is slow and only changes rounding. ``device`` ``cpu`` asks the pack to keep the
  VAE on the CPU; wfrun's engine places models itself, so the choice does not move it (the
  numbers are the same). The image tiny autoencoders (``taesd``, …), the video ones in
  ``vae_approx`` and ``pixel_space`` are not Wan VAEs and are refused with a clear error.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.nodes.models import resolve

VAE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
NOT_WAN_VAES = ("taesd", "taesdxl", "taesd3", "taef1", "pixel_space")
VIDEO_TAES = ("taehv", "lighttaew2_2", "lighttaew2_1", "lighttaehy1_5")


@executor("DiffusionModelSelector")
def diffusion_model_selector(ctx: ExecContext, model_name: Any, **_: Any) -> tuple:
    if not isinstance(model_name, str) or not model_name:
        raise NodeInputError("model_name", f"model_name: expected a model file name, found {model_name!r}",
                             "pick a file from the diffusion_models folder")
    if "connector" in model_name.lower():
        path = resolve(ctx, "text_encoders", model_name, "model_name")
    else:
        path = resolve(ctx, "diffusion_models", model_name, "model_name")
    return (str(path),)


@executor("VAELoaderKJ", background=True)
def vae_loader_kj(ctx: ExecContext, vae_name: Any, device: Any, weight_dtype: Any, **_: Any) -> tuple:
    if weight_dtype not in VAE_DTYPES:
        raise NodeInputError("weight_dtype", f"weight_dtype: unknown dtype {weight_dtype!r}",
                             f"use one of {', '.join(VAE_DTYPES)}")
    if device not in ("main_device", "cpu"):
        raise NodeInputError("device", f"device: unknown choice {device!r}", "use main_device or cpu")
    if not isinstance(vae_name, str) or not vae_name:
        raise NodeInputError("vae_name", f"vae_name: expected a VAE file name, found {vae_name!r}")
    if vae_name in NOT_WAN_VAES or vae_name.split(".")[0] in VIDEO_TAES:
        raise NodeInputError("vae_name", f"{vae_name} is a tiny or pixel-space autoencoder, which wfrun does not run",
                             "choose the Wan VAE file (e.g. Wan2_1_VAE_bf16.safetensors)")
    loader = registered("VAELoader")
    if loader is None:  # comfy_core_models is part of wfrun; only a broken install lacks it
        raise NodeInputError("vae_name", "the core VAELoader is not available in this wfrun")
    (vae,) = loader(ctx, vae_name=vae_name)
    dtype = VAE_DTYPES[weight_dtype]
    if not str(ctx.device).startswith("cuda") or dtype == vae.dtype:
        return (vae,)
    return (dataclasses.replace(vae, vae=vae.vae.to(dtype), dtype=dtype),)
