"""ComfyUI-Wan-SVI2Pro-FLF (Well-Made/ComfyUI-Wan-SVI2Pro-FLF): SVI 2.0 Pro clip-after-clip
conditioning with a first-last-frame style end block, and a latent trimmer."""

from wfrun.packs.wan_svi2pro_flf import nodes  # noqa: F401
