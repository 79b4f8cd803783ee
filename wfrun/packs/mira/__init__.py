"""ComfyUI_Mira (mirabarukaso/ComfyUI_Mira): Text Combiner 2."""
