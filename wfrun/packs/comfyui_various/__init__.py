"""comfyui-various (jamesWalker55/comfyui-various): JWInteger."""
