"""ComfyUI_Comfyroll_CustomNodes (Suzie1): the index and prompt nodes public Wan workflows use."""
