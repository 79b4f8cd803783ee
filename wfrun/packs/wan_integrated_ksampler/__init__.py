"""ComfyUI-Wan-Video-Integrated-KSampler (luguoli): a Wan 2.2 two-expert text/image-to-video run in one node."""
