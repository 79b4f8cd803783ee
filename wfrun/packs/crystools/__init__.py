"""ComfyUI-Crystools (crystian/ComfyUI-Crystools): its image switch."""
