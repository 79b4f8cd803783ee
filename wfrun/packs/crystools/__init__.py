"""ComfyUI-Crystools (crystian/ComfyUI-Crystools): its switches, any-typed pipes and multiline string primitive."""
