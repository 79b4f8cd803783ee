"""ComfyUI-wanBlockswap (orssorbit/ComfyUI-wanBlockswap): block swap for ComfyUI's native Wan MODEL."""
