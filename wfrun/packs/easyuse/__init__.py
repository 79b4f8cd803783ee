"""ComfyUI-Easy-Use (yolain/ComfyUI-Easy-Use): its pass-through utility nodes."""
