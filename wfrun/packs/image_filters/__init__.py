"""ComfyUI-Image-Filters (spacepxl/ComfyUI-Image-Filters): DilateErodeMask."""
