"""ComfyUI_Ib_CustomNodes (Chaoses-Ib/ComfyUI_Ib_CustomNodes): LoadImageFromPath."""
