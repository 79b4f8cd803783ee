"""ComfyUI-GGUF (city96/ComfyUI-GGUF): its loaders of GGUF-quantized Wan transformers and
UMT5 text encoders, giving the MODEL and CLIP that ComfyUI's core nodes take."""
