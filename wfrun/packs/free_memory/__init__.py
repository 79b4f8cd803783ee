"""ComfyUI-FreeMemory (ShmuelRonen/ComfyUI-FreeMemory): the Free Memory pass-through nodes."""
