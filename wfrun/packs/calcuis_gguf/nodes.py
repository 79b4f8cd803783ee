"""``VaeGGUF`` (title "GGUF VAE Loader"): a Wan VAE from a GGUF file or any VAE file.

Read at e802c78 (release 2.8.2, the version the corpus files carry), ``pig.py``:

- a ``.gguf`` name is read from the ``vae`` folder (the pack's ``vae_gguf`` key lists that
  folder), its tensors kept under the file's own names, and given to ComfyUI's VAE, which
  finds the model from the names (calcuis' ``pig_wan_vae_*`` files: the original Wan VAE
  names). wfrun reads it with ``models.load_gguf.load_gguf_vae`` into diffusers'
  ``AutoencoderKLWan``, every tensor in the VAE's compute dtype (a quantized one
  dequantized once, on load: a VAE has no layer that could compute from quantized
  weights). Only Wan VAEs (2.1 and 2.2) are read; a GGUF of another VAE is refused.
- another name is loaded as VAELoader loads it (wfrun runs the core VAELoader executor);
- ``taesd``, ``taesdxl``, ``taesd3``, ``taef1`` (image tiny autoencoders) are refused: wfrun
  runs Wan video models.

The VAE computes in bf16 on a GPU and fp32 on the CPU, as VAELoader's does.
"""

from __future__ import annotations

from typing import Any

from wfrun.models.handles import WanVAE
from wfrun.models.header import CheckpointError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.nodes.models import loading_error, resolve, wan_compute_dtype

TINY_AUTOENCODERS = ("taesd", "taesdxl", "taesd3", "taef1")


@executor("VaeGGUF", background=True, gguf_inputs=("vae_name",))
def vae_gguf(ctx: ExecContext, vae_name: str, **_: Any) -> tuple:
    if vae_name in TINY_AUTOENCODERS:
        raise NodeInputError("vae_name", f"{vae_name} is an image tiny autoencoder, which wfrun does not run",
                             "choose the Wan VAE file")
    if not isinstance(vae_name, str) or not vae_name.lower().endswith(".gguf"):
        loader = registered("VAELoader")
        if loader is None:  # comfy_core_models is part of wfrun; only a broken install lacks it
            raise NodeInputError("vae_name", "the core VAELoader is not available in this wfrun")
        return loader(ctx, vae_name=vae_name)
    from wfrun.models.load_gguf import load_gguf_vae

    path = resolve(ctx, "vae", vae_name, "vae_name")
    dtype = wan_compute_dtype(ctx.device)
    try:
        vae = load_gguf_vae(path, dtype=dtype, device=ctx.offload_device)
    except (CheckpointError, ValueError) as err:
        if isinstance(err, NodeInputError):
            raise
        raise loading_error("vae_name", err) from None
    vae.eval().requires_grad_(False)
    return (WanVAE(vae=vae, dtype=dtype, path=path),)
