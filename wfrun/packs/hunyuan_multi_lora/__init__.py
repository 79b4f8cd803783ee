"""Hunyuan-Multi-Lora-Loader (asdrabael/Hunyuan-Multi-Lora-Loader), used on Wan models too."""
