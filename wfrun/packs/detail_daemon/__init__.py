"""ComfyUI-Detail-Daemon (Jonseed/ComfyUI-Detail-Daemon): samplers that tell the model a lower sigma."""
