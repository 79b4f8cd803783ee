"""ComfyUI-WanVaceAdvanced (drozbay/ComfyUI-WanVaceAdvanced): VACE with per-frame strengths and Phantom subjects."""
