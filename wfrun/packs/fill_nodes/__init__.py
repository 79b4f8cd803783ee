"""ComfyUI_Fill-Nodes (filliptm/ComfyUI_Fill-Nodes)."""
