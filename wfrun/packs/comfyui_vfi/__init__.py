"""ComfyUI-VFI (GACLove/ComfyUI-VFI): RIFE frame interpolation to a target frame rate."""
