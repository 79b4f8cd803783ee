"""ComfyUI-Chibi-Nodes (chibiace/ComfyUI-Chibi-Nodes): Textbox, Int2String."""
