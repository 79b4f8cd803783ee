"""ComfyUI-Chibi-Nodes (chibiace/ComfyUI-Chibi-Nodes): Textbox."""
