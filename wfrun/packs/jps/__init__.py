"""ComfyUI_JPS-Nodes (JPS-GER/ComfyUI_JPS-Nodes): its text, switch and size helpers."""
