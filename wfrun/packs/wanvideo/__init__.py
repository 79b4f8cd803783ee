"""Executors and value types of Kijai's ComfyUI-WanVideoWrapper."""
