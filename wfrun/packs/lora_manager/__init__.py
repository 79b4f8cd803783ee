"""ComfyUI-Lora-Manager (willmiao/ComfyUI-Lora-Manager): its LoRA list node for Kijai's
ComfyUI-WanVideoWrapper."""
