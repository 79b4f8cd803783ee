"""Finding and reading model files (ComfyUI folder layout, safetensors only)."""
