"""ComfyUI-NAG (ChenDarYen/ComfyUI-NAG): Normalized Attention Guidance on the core KSampler."""
