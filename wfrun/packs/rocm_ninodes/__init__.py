"""rocm-ninodes (iGavroche/rocm-ninodes): ROCm-tuned copies of ComfyUI's loader and VAE decode."""

from wfrun.packs.rocm_ninodes import nodes  # noqa: F401
