"""ComfyUI-Crystools (crystian/ComfyUI-Crystools): its switches and any-typed pipes."""
