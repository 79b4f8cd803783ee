"""ComfyUI-Logic (theUpsider/ComfyUI-Logic, registry id ``comfyui-logic``): value nodes,
a comparison and a two-way choice, named with a trailing ``-🔬``."""
