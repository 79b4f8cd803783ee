"""ComfyUI_LayerStyle (chflame163/ComfyUI_LayerStyle): ImageScaleByAspectRatio V2, AddGrain, PurgeVRAM V2."""
