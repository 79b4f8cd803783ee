"""ComfyUI-WanVideoKsampler (edflyer/ComfyUI-WanVideoKsampler): ComfyUI's KSampler with
memory logging, for Wan video latents."""

from wfrun.packs.wan_video_ksampler import nodes  # noqa: F401
