"""ComfyUI-Unload-Model (SeanScripts/ComfyUI-Unload-Model): UnloadModel, UnloadAllModels."""
