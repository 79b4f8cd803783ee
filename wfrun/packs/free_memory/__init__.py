"""ComfyUI-FreeMemory (ShmuelRonen/ComfyUI-FreeMemory): pass-through nodes that free memory."""
