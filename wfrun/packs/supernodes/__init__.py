"""ComfyUI-SuperNodes (sonnybox/ComfyUI-SuperNodes): its size, crop and sigma helpers."""
