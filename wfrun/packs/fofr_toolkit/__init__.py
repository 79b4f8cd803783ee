"""comfyui-fofr-toolkit (fofr/comfyui-fofr-toolkit): size arithmetic and an incrementer."""
