"""comfyui-dream-video-batches (alt-key-project/comfyui-dream-video-batches): its arithmetic nodes."""
