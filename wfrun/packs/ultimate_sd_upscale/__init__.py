"""ComfyUI_UltimateSDUpscale (ssitu): tiled image-to-image redraw after the Ultimate SD Upscale
A1111 script (Coyote-A). Each tile runs wfrun's core VAEEncode -> KSampler -> VAEDecode,
found in the executor registry (packs never import each other)."""

from wfrun.packs.ultimate_sd_upscale import upscale  # noqa: F401
