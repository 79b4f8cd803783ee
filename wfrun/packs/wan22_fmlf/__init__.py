"""ComfyUI-Wan22FMLF (wallen0322): first/middle/last-frame, multi-frame and SVI
conditioning for Wan 2.2 A14B image-to-video on ComfyUI's core path. Each node encodes its
frames with the VAE and gives separate positive CONDITIONINGs for the high-noise and the
low-noise expert (concat latents and mask, optionally CLIP vision), which core KSampler
reads as it reads WanFirstLastFrameToVideo's."""

from wfrun.packs.wan22_fmlf import advanced, extract, frames, loader, svi_pro  # noqa: F401
