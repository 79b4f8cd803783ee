"""ComfyUI_Comfyroll_CustomNodes (Suzie1): the index nodes public Wan workflows use."""
