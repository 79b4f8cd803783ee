"""ComfyUI-MagCache (Zehong-Ma/ComfyUI-MagCache): MagCache as a patch on ComfyUI's native Wan MODEL."""
