"""ComfyUI_Selectors (ComfyAssets/ComfyUI_Selectors): sampler and scheduler pickers."""
