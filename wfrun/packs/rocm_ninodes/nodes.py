"""``ROCmDiffusionLoader`` and ``ROCMOptimizedVAEDecode``: ComfyUI's core behaviour.

Read at 6f88263 (2026-01-14, release 2.0.9, the version the corpus files carry):

- ``ROCmDiffusionLoader`` hands the file to ComfyUI's own ``load_diffusion_model`` with the
  chosen ``weight_dtype`` (as UNETLoader does), around ROCm diagnostics printed to the console.
  Its one change of behaviour: a file whose name says ``fp8_scaled`` (or ``fp8-scaled``) is
  always loaded with ``default``, whatever ``weight_dtype`` says, so ComfyUI keeps the file's
  scaled fp8 weights. wfrun runs the core UNETLoader executor with that rule applied. The
  pack lists ``.ckpt``/``.pt``/``.pth``/``.bin``/``.onnx`` files too; wfrun reads safetensors
  only, as for UNETLoader, and GGUF files are refused here as the pack refuses them.
- ``ROCMOptimizedVAEDecode``: for a Wan VAE and video latents (every VAE wfrun loads) the pack
  detects the Wan VAE and decodes the whole video at once with ``vae.decode``, exactly as the
  core VAEDecode does; tile size, overlap, precision, batching and chunking apply only to
  image VAEs, and its ROCm switches (no TF32, fp16 accumulation) only to AMD GPUs' global
  matmul settings. wfrun runs the core VAEDecode executor and ignores those inputs.

Both delegate through the executor registry (packs never import each other).
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor


def _core(class_type: str, input_name: str):
    return builtin_executor(class_type, input_name)


def weight_dtype_for(unet_name: str, weight_dtype: str) -> str:
    """The pack's rule: an ``fp8_scaled`` file keeps its own storage (``default``)."""
    lowered = unet_name.lower()
    return "default" if "fp8_scaled" in lowered or "fp8-scaled" in lowered else weight_dtype


@executor("ROCmDiffusionLoader", background=True)
def rocm_diffusion_loader(ctx: ExecContext, unet_name: str, weight_dtype: str, **_: Any) -> tuple:
    if weight_dtype not in ("default", "fp8_e4m3fn", "fp8_e5m2"):
        raise NodeInputError("weight_dtype", f"unknown weight dtype {weight_dtype!r}",
                             "use one of default, fp8_e4m3fn, fp8_e5m2")
    if not isinstance(unet_name, str) or unet_name.lower().endswith(".gguf"):
        raise NodeInputError("unet_name", f"ROCmDiffusionLoader does not load GGUF files ({unet_name!r})",
                             "load it with a GGUF loader (the pack's own ROCm GGUF Loader, or ComfyUI-GGUF's)")
    return _core("UNETLoader", "unet_name")(ctx, unet_name=unet_name,
                                            weight_dtype=weight_dtype_for(unet_name, weight_dtype))


@executor("ROCMOptimizedVAEDecode", oom_hint="decode fewer frames at a time, or a smaller size")
def rocm_optimized_vae_decode(ctx: ExecContext, samples: dict, vae: Any, **_: Any) -> tuple:
    return _core("VAEDecode", "samples")(ctx, samples=samples, vae=vae)
