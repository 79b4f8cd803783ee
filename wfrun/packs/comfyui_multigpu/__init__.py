"""ComfyUI-MultiGPU's plain device loaders (pollockjj/ComfyUI-MultiGPU, registry id
``comfyui-multigpu``): UNETLoaderMultiGPU and VAELoaderMultiGPU. Its DisTorch GGUF loader
lives beside ComfyUI-GGUF's loader it wraps (``packs.comfyui_gguf.distorch``)."""

from wfrun.packs.comfyui_multigpu import nodes  # noqa: F401
